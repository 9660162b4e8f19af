"""Layer specs from YAML (``{type: Conv2D, filters: 32, ...}``) -> Keras layer objects.

Any ``keras.layers`` class is allowed, plus cnnlab's own (``MinPooling2D``). Unknown
types and unknown arguments are config errors that list what is valid.
"""

from __future__ import annotations

import functools
import inspect
import re
from typing import Any

from cnnlab.backend import keras
from cnnlab.errors import ConfigError, did_you_mean, first_line

# Arguments every Keras layer takes through **kwargs.
BASE_LAYER_ARGS = {"name", "dtype", "trainable", "autocast", "activity_regularizer"}
# The input shape comes from the data, never from the layer list.
REFUSED_TYPES = {"Input", "InputLayer"}


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


def snake_case(class_name: str) -> str:
    """Keras's own default-name rule: MaxPooling2D -> max_pooling2d."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def check_layer_specs(specs: list[dict[str, Any]] | None, path: str, source=lambda where: "config") -> None:
    """Validate types and argument names, and construct each layer once to check values.
    ``source(where)`` names what to blame: the config file, or the --set item that wrote it."""
    for i, spec in enumerate(specs or []):
        where = f"{path}[{i}]"
        make_layer(spec, where, source(where))


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
    counts: dict[str, int] = {}
    layers = []
    mixed = keras().mixed_precision.global_policy().name.startswith("mixed")
    for i, spec in enumerate(specs):
        if mixed and i == len(specs) - 1 and "dtype" not in spec:
            # Under mixed precision the output layer still computes in float32, so the
            # softmax (or logits) and the loss stay numerically safe.
            spec = {**spec, "dtype": "float32"}
        base = snake_case(str(spec.get("type")))
        n = counts.get(base, 0)
        counts[base] = n + 1
        layers.append(make_layer(spec, f"{path}[{i}]", name=base if n == 0 else f"{base}_{n}"))
    return layers
