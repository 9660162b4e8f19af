"""The layer lists of a config (``model.layers``, ``model.head``) checked without Keras:
each item is a mapping with a layer ``type`` name, and the arguments learners get wrong
most (sizes, rates, padding) have sensible values. Loading a config must not start
TensorFlow (seconds before a typo is reported); what needs the real Keras class, an
unknown type or an argument Keras rejects, is checked by cnnlab.model.layer_specs before
any data is read."""

from __future__ import annotations

from typing import Any, Callable

from cnnlab.errors import ConfigError

# The input shape comes from the data, never from the layer list.
REFUSED_TYPES = {"Input", "InputLayer"}
EXAMPLE = "{type: Conv2D, filters: 32, kernel_size: 3}"


def _positive_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool) and value > 0


def _positive_ints(value) -> bool:  # 3 or [3, 3]
    if isinstance(value, (list, tuple)):
        return 1 <= len(value) <= 3 and all(_positive_int(v) for v in value)
    return _positive_int(value)


def _rate(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool) and 0 <= value < 1


def _padding(value) -> bool:
    return value in ("valid", "same", "causal")  # causal: Conv1D


# argument -> (test, what it must be); applied to whichever layer type takes the argument
VALUE_RULES: dict[str, tuple[Callable[[Any], bool], str]] = {
    "filters": (_positive_int, "a positive integer (the number of filters)"),
    "units": (_positive_int, "a positive integer (the number of neurons)"),
    "kernel_size": (_positive_ints, "a positive integer or a list of them, e.g. 3 or [3, 3]"),
    "pool_size": (_positive_ints, "a positive integer or a list of them, e.g. 2 or [2, 2]"),
    "strides": (lambda v: v is None or _positive_ints(v), "a positive integer or a list of them, e.g. 1 or [2, 2]"),
    "rate": (_rate, "a number from 0 up to (not including) 1"),
    "padding": (_padding, "'valid' (no padding) or 'same' (output size = input size / stride)"),
}
# The layer types whose arguments of these names mean what VALUE_RULES says (ZeroPadding2D's
# padding is a number of pixels, for example): conv and pooling layers, Dense, Dropout.
RULED_TYPES = ("Conv1D", "Conv2D", "Conv3D", "SeparableConv1D", "SeparableConv2D", "DepthwiseConv1D",
               "DepthwiseConv2D", "Conv2DTranspose", "MaxPooling1D", "MaxPooling2D", "MaxPooling3D",
               "AveragePooling1D", "AveragePooling2D", "AveragePooling3D", "MinPooling2D", "Dense", "Dropout",
               "SpatialDropout1D", "SpatialDropout2D")  # fmt: skip


def check_layer_specs(specs: list[dict[str, Any]] | None, path: str, source=lambda where: "config") -> None:
    """``source(where)`` names what to blame: the config file, or the --set item that wrote it."""
    for i, spec in enumerate(specs or []):
        where = f"{path}[{i}]"
        blame = source(where)
        if not isinstance(spec, dict):
            raise ConfigError(f"{blame}: {where}: expected a mapping such as {EXAMPLE}")
        type_name = spec.get("type")
        if type_name is None:
            raise ConfigError(f"{blame}: {where}: missing 'type', e.g. {EXAMPLE}")
        if isinstance(type_name, str) and type_name in REFUSED_TYPES:  # YAML may give a list or mapping
            raise ConfigError(f"{blame}: {where}.type: {type_name} is not needed; the input shape comes from the data")
        if not isinstance(type_name, str):
            raise ConfigError(f"{blame}: {where}.type: expected a keras.layers class name such as Conv2D, got {type_name!r}")
        for arg, value in spec.items():
            rule = VALUE_RULES.get(arg) if type_name in RULED_TYPES else None
            if rule is not None and not rule[0](value):
                raise ConfigError(f"{blame}: {where}: invalid {type_name} arguments: {arg} must be {rule[1]}, got {value!r}")
