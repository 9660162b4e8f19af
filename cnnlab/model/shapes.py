"""The layer table of a ``model.layers`` config for ANY input size, without building
the model: shapes from each layer's ``compute_output_shape``, parameter counts from
the layers' own formulas. A 1920x1080x3 photo through the textbook layers would need
829 million weights (3.3 GB) to build; here it costs nothing, so "how many weights
would a dense layer need on this image" has an answer in a second.

    cnnlab summary --input 1920x1080x3 configs/fashion.yaml
"""

from __future__ import annotations

import math

from cnnlab.config.layer_specs import make_layers
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
    total = 0
    for i, layer in enumerate(make_layers(cfg.model.layers)):
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


__all__ = ["PARAM_RULES", "describe_specs", "parse_input_size"]
