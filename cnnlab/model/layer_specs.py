"""Layer specs from YAML (``{type: Conv2D, filters: 32, ...}``) -> Keras layer objects.

Any ``keras.layers`` class is allowed, plus cnnlab's own (``MinPooling2D``). Unknown
types and unknown arguments are config errors that list what is valid. The config stage
checked the structure without Keras (cnnlab.config.layer_specs); ``check_model_layers``
does the rest with the real classes, before any data is read.
"""

from __future__ import annotations

import functools
import inspect
from typing import Any

from cnnlab.backend import keras
from cnnlab.config import blame
from cnnlab.config.layer_specs import REFUSED_TYPES
from cnnlab.errors import ConfigError, did_you_mean, first_line
from cnnlab.model.naming import layer_names

# Arguments every Keras layer takes through **kwargs.
BASE_LAYER_ARGS = {"name", "dtype", "trainable", "autocast", "activity_regularizer"}


@functools.cache
def layer_classes() -> dict[str, type]:
    from cnnlab.layers import CUSTOM_LAYERS

    k = keras()
    found = {
        name: obj
        for name, obj in vars(k.layers).items()
        if inspect.isclass(obj) and issubclass(obj, k.layers.Layer) and name not in REFUSED_TYPES
    }
    return {**found, **CUSTOM_LAYERS}


def allowed_args(cls: type) -> set[str]:
    params = inspect.signature(cls.__init__).parameters
    names = {n for n, p in params.items() if n != "self" and p.kind not in (p.VAR_POSITIONAL, p.VAR_KEYWORD)}
    if any(p.kind == p.VAR_KEYWORD for p in params.values()):
        names |= BASE_LAYER_ARGS
    return names


def check_model_layers(cfg) -> None:
    """Validate the layer types and argument names of model.layers and model.head, and
    construct each layer once to check values; blames the file or --set item that wrote it."""
    for path, specs in (("model.layers", cfg.model.layers), ("model.head", cfg.model.head)):
        for i, spec in enumerate(specs or []):
            where = f"{path}[{i}]"
            make_layer(spec, where, blame(cfg, where))


def make_layer(spec: dict[str, Any], where: str, source: str = "config", name: str | None = None):
    spec = dict(spec)
    type_name = spec.pop("type", None)
    classes = layer_classes()
    if type_name is None:
        raise ConfigError(f"{source}: {where}: missing 'type', e.g. {{type: Conv2D, filters: 32, kernel_size: 3}}")
    if isinstance(type_name, str) and type_name in REFUSED_TYPES:  # YAML may give a list or mapping
        raise ConfigError(f"{source}: {where}.type: {type_name} is not needed; the input shape comes from the data")
    if not isinstance(type_name, str) or type_name not in classes:
        hint = did_you_mean(str(type_name), classes)
        common = "Conv2D, MaxPooling2D, AveragePooling2D, MinPooling2D, GlobalAveragePooling2D, Flatten, Dense, Dropout"
        raise ConfigError(
            f"{source}: {where}.type: unknown layer {type_name!r}{hint}; use a keras.layers class name "
            f"such as {common} (cnnlab layers lists every one)"
        )
    cls = classes[type_name]
    allowed = allowed_args(cls)
    for arg in spec:
        if arg not in allowed:
            hint = did_you_mean(str(arg), allowed)
            raise ConfigError(
                f"{source}: {where}.{arg}: unknown argument for {type_name}{hint}; "
                f"allowed: {', '.join(sorted(allowed))}"
            )
    if name and "name" not in spec:
        spec["name"] = name
    try:
        return cls(**spec)
    except Exception as exc:  # Keras raises ValueError/TypeError with a useful text
        raise ConfigError(f"{source}: {where}: invalid {type_name} arguments: {first_line(exc)}") from None


def make_layers(specs: list[dict[str, Any]], path: str = "model.layers") -> list:
    """Build the layers with stable Keras-style names (conv2d, conv2d_1, ...) per model,
    so that ``--layer conv2d_1`` means the same thing in every process."""
    layers = []
    mixed = keras().mixed_precision.global_policy().name.startswith("mixed")
    for i, (spec, name) in enumerate(zip(specs, layer_names(specs))):
        if mixed and i == len(specs) - 1 and "dtype" not in spec:
            # Under mixed precision the output layer still computes in float32, so the
            # softmax (or logits) and the loss stay numerically safe.
            spec = {**spec, "dtype": "float32"}
        layers.append(make_layer(spec, f"{path}[{i}]", name=name))
    return layers
