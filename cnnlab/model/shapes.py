"""The layer table of a ``model.layers`` config for ANY input size, without building
the model: shapes from each layer's ``compute_output_shape``, parameter counts from
the layers' own formulas. A 1920x1080x3 photo through the textbook layers would need
829 million weights (3.3 GB) to build; here it costs nothing, so "how many weights
would a dense layer need on this image" has an answer in a second.

    cnnlab summary --input 1920x1080x3 configs/fashion.yaml
"""

from __future__ import annotations

import math

from cnnlab.errors import ConfigError, first_line
from cnnlab.model.summary import explain, layer_table, shape_text


def _conv(layer, shape):  # kernel (kh, kw, in, out) + bias
    kh, kw = layer.kernel_size
    return kh * kw * shape[-1] * layer.filters + (layer.filters if layer.use_bias else 0)


def _dense(layer, shape):
    return shape[-1] * layer.units + (layer.units if layer.use_bias else 0)


def _batch_norm(layer, shape):  # gamma, beta, moving mean and variance
    return shape[-1] * (2 + int(layer.center) + int(layer.scale))


# Layer class -> its parameter count from the input shape. Other classes are counted by
# building one copy on a small input (see _counted), which is exact for any layer whose
# weights do not depend on the height and width.
PARAM_RULES = {"Conv2D": _conv, "Dense": _dense, "BatchNormalization": _batch_norm}


def describe_specs(cfg, input_shape: tuple[int, int, int]) -> str:
    """The layer table of cfg.model.layers on (H, W, C) raw pixels; nothing is built."""
    if cfg.model.backbone is not None:
        raise ConfigError(
            "summary --input works on model.layers configs; a backbone's size is model.backbone.input_size "
            "(set it with --set model.backbone.input_size=[H,W])"
        )
    shape = (None, *input_shape)
    rows = [("image", "InputLayer", shape_text(shape), 0, ""), ("rescaling", "Rescaling", shape_text(shape), 0, "")]
    layers = spec_layers(cfg.model.layers)
    if layers is None:  # a type, argument or value without a rule here: ask Keras (starts TensorFlow)
        from cnnlab.model.layer_specs import check_model_layers, make_layers

        check_model_layers(cfg)  # its errors name the config file or --set item, as train's do
        layers = make_layers(cfg.model.layers)
    total = 0
    for i, layer in enumerate(layers):
        try:
            out = tuple(layer.compute_output_shape(shape))
        except Exception as exc:
            raise ConfigError(
                f"model.layers[{i}] ({type(layer).__name__}) cannot take input of shape {shape_text(shape)}: "
                f"{first_line(exc)}"
            ) from None
        params = _counted(layer, shape)
        total = None if params is None or total is None else total + params
        rows.append((layer.name, type(layer).__name__, shape_text(out), params, explain(layer, shape, params)))
        shape = out
    h, w, c = input_shape
    title = f'Model "{cfg.name}" (not built): input (None, {h}, {w}, {c}) raw pixels 0..255'
    text = layer_table(title, rows, total, None)
    if total is not None:
        text += f"\n(float32 weights: {total * 4 / 2**20:,.1f} MiB; training with Adam needs about 4x that)"
    return text


def _counted(layer, shape) -> int | None:
    rule = PARAM_RULES.get(type(layer).__name__)
    if rule is not None:
        return int(rule(layer, shape))
    if isinstance(layer, SpecLayer):
        return 0  # every rule-described layer without a PARAM_RULES entry has no weights
    # A copy built on a small input of the same rank and channels: a weightless layer
    # has 0, a per-channel layer the same count at any size; else unknown ("?").
    small = [shape[0]] + [min(d, 8) if d is not None else 8 for d in shape[1:-1]] + [shape[-1]]
    counts = set()
    for extra in (0, 1):
        probe = layer.__class__.from_config(layer.get_config())
        try:
            probe.build(tuple(small[:1] + [d + extra for d in small[1:-1]] + small[-1:]))
        except Exception:
            return None
        counts.add(probe.count_params())
    return counts.pop() if len(counts) == 1 else None


MAX_INPUT_VALUES = 2**31  # H*W*C: TensorFlow's tensors index with int32 here


def parse_input_size(text: str) -> tuple[int, int, int]:
    """'1920x1080x3' (height x width x channels; channels default 1) -> (1920, 1080, 3)."""
    parts = text.lower().replace("×", "x").split("x")
    try:
        sizes = [int(p) for p in parts]
    except ValueError:
        sizes = []
    if len(sizes) == 2:
        sizes.append(1)
    if len(sizes) != 3 or min(sizes) < 1:
        raise ConfigError(f"--input {text!r}: expected HxWxC, e.g. 28x28x1 or 1080x1920x3 (positive sizes)")
    if math.prod(sizes) > MAX_INPUT_VALUES:
        raise ConfigError(f"--input {text!r}: {math.prod(sizes):,} values is too large (at most {MAX_INPUT_VALUES:,}, "
                          "e.g. 16384x16384x8); give a smaller size")  # fmt: skip
    return tuple(sizes)


# ---------------------------------------------------------------- layers described without Keras
# The layer types of the shipped configs and the lectures, with the arguments these rules
# understand. Any other type or argument makes describe_specs build real Keras layers.


class SpecLayer:
    """A layer as its spec describes it: the attributes cnnlab.model.summary.explain and the
    PARAM_RULES read (kernel_size, strides, padding, filters, units, use_bias, ...), and the
    output shape from the size rule. Its class name is the Keras class name."""

    built = False

    def __init__(self, name: str, **attributes):
        self.name = name
        vars(self).update(attributes)

    def compute_output_shape(self, shape):
        return type(self).output(self, tuple(shape))


def _pair(value) -> tuple[int, int]:
    return (value, value) if isinstance(value, int) else tuple(value)


def _window_output(layer, shape, window):
    n, h, w, _ = shape
    strides, dilation = layer.strides, getattr(layer, "dilation_rate", (1, 1))
    sizes = []
    for size, f, s, d in zip((h, w), window, strides, dilation):
        f_eff = (f - 1) * d + 1
        sizes.append(-(-size // s) if layer.padding == "same" else (size - f_eff) // s + 1)
    if min(sizes) < 1:
        raise ValueError(f"the output would be {sizes[0]}x{sizes[1]}: the window is larger than the input")
    return sizes


def _conv_output(layer, shape):
    _need_rank(shape, 4, layer)
    h, w = _window_output(layer, shape, layer.kernel_size)
    return (shape[0], h, w, layer.filters)


def _pool_output(layer, shape):
    _need_rank(shape, 4, layer)
    h, w = _window_output(layer, shape, layer.pool_size)
    return (shape[0], h, w, shape[-1])


def _need_rank(shape, rank: int, layer) -> None:
    if len(shape) != rank:
        raise ValueError(f"{type(layer).__name__} needs a {rank}-D input (N, H, W, C), got {len(shape)}-D")


def _global_output(layer, shape):
    _need_rank(shape, 4, layer)
    return (shape[0], 1, 1, shape[-1]) if layer.keepdims else (shape[0], shape[-1])


def _flatten_output(layer, shape):
    return (shape[0], math.prod(shape[1:]))


def _dense_output(layer, shape):
    return (*shape[:-1], layer.units)


def _same_output(layer, shape):
    return shape


COMMON = {"name", "trainable", "dtype"}
CONV = COMMON | {"activation", "kernel_initializer", "bias_initializer", "kernel_regularizer", "bias_regularizer"}
# type -> (accepted arguments, their defaults as Keras has them, output rule)
SPEC_RULES = {
    "Conv2D": (CONV | {"filters", "kernel_size", "strides", "padding", "dilation_rate", "use_bias"},
               {"strides": 1, "padding": "valid", "dilation_rate": 1, "use_bias": True}, _conv_output),
    "MaxPooling2D": (COMMON | {"pool_size", "strides", "padding"}, {"pool_size": 2, "strides": None, "padding": "valid"}, _pool_output),
    "AveragePooling2D": (COMMON | {"pool_size", "strides", "padding"}, {"pool_size": 2, "strides": None, "padding": "valid"}, _pool_output),
    "MinPooling2D": (COMMON | {"pool_size", "strides", "padding"}, {"pool_size": 2, "strides": None, "padding": "valid"}, _pool_output),
    "GlobalAveragePooling2D": (COMMON | {"keepdims"}, {"keepdims": False}, _global_output),
    "GlobalMaxPooling2D": (COMMON | {"keepdims"}, {"keepdims": False}, _global_output),
    "Flatten": (COMMON, {}, _flatten_output),
    "Dense": (CONV | {"units", "use_bias"}, {"use_bias": True}, _dense_output),
    "Dropout": (COMMON | {"rate", "seed"}, {}, _same_output),
    "SpatialDropout2D": (COMMON | {"rate", "seed"}, {}, _same_output),
    "Activation": (COMMON | {"activation"}, {}, _same_output),
    "ReLU": (COMMON | {"max_value", "negative_slope", "threshold"}, {}, _same_output),
    "BatchNormalization": (COMMON | {"momentum", "epsilon", "center", "scale"}, {"center": True, "scale": True}, _same_output),
}  # fmt: skip
WINDOWS = ("kernel_size", "pool_size", "strides", "dilation_rate")
REQUIRED = {"Conv2D": {"filters", "kernel_size"}, "Dense": {"units"}, "Dropout": {"rate"},
            "SpatialDropout2D": {"rate"}, "Activation": {"activation"}}  # fmt: skip
ACTIVATIONS = {None, "relu", "sigmoid", "softmax", "tanh", "linear", "elu", "selu", "gelu", "swish", "silu",
               "softplus", "softsign", "leaky_relu", "relu6", "exponential", "hard_sigmoid", "mish"}  # fmt: skip


def spec_layers(specs) -> list[SpecLayer] | None:
    """The layers of ``specs`` as SpecLayers, named as Keras names them (conv2d, conv2d_1,
    ...); None when a type or an argument has no rule here."""
    from cnnlab.model.naming import layer_names

    layers = []
    for spec, name in zip(specs, layer_names(specs)):
        rule = SPEC_RULES.get(spec.get("type"))
        if rule is None or not set(spec) - {"type"} <= rule[0] or not REQUIRED.get(spec["type"], set()) <= set(spec):
            return None
        if spec.get("activation") not in ACTIVATIONS:  # a typo ("relux") is Keras's to refuse
            return None
        args = {**rule[1], **{k: v for k, v in spec.items() if k not in ("type", "name")}}
        if "pool_size" in args and args.get("strides") is None:
            args["strides"] = args["pool_size"]
        args.update({k: _pair(args[k]) for k in WINDOWS if k in args})
        cls = type(spec["type"], (SpecLayer,), {"output": rule[2]})
        layers.append(cls(spec.get("name", name), **args))
    return layers


__all__ = ["PARAM_RULES", "SPEC_RULES", "SpecLayer", "describe_specs", "parse_input_size", "spec_layers"]
