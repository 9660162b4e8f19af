"""A model summary for learners: each layer's output shape and parameter count, with
the arithmetic behind them, e.g. ``28 → (28 + 2·1 − 3)/1 + 1 = 28`` (the output-size
rule OH = (H + 2P − FH)/S + 1) and ``3·3·1·32 + 32 = 320`` parameters."""

from __future__ import annotations

import math

import numpy as np


def describe_model(model) -> str:
    rows = [(layer.name, type(layer).__name__, _shape(layer.output), layer.count_params(), explain(layer))
            for layer in model.layers]  # fmt: skip
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return layer_table(f'Model "{model.name}": input {_shape(model.input)} raw pixels 0..255', rows,
                       model.count_params(), trainable)  # fmt: skip


def layer_table(title: str, rows: list[tuple], total: int | None, trainable: int | None) -> str:
    """rows: (name, class, output shape text, params or None, arithmetic)."""
    rows = [(n, c, sh, "?" if p is None else f"{p:,}", a) for n, c, sh, p, a in rows]
    # Columns as wide as their longest entry (at least 22), so long names never shift them.
    widths = [max([22, *(len(row[i]) for row in rows)]) for i in range(3)]
    header = f"{'layer':<{widths[0]}} {'type':<{widths[1]}} {'output shape':<{widths[2]}} {'params':>13}  arithmetic"
    lines = [title, header, "-" * len(header)]
    for name, cls, shape, params, arithmetic in rows:
        lines.append(
            f"{name:<{widths[0]}} {cls:<{widths[1]}} {shape:<{widths[2]}} {params:>13}  {arithmetic}".rstrip()
        )
    lines.append("-" * len(header))
    if total is None:
        lines.append("Total params: unknown (a layer above has '?')")
    elif trainable is None:
        lines.append(f"Total params: {total:,}")
    else:
        lines.append(f"Total params: {total:,} (trainable {trainable:,}, non-trainable {total - trainable:,})")
    return "\n".join(lines)


def explain(layer, in_shape=None, params: int | None = None) -> str:
    """The size and parameter arithmetic for conv, pooling and dense layers. ``in_shape``
    and ``params`` for a layer that was never built (cnnlab.model.shapes)."""
    cls = type(layer).__name__
    parts = []
    in_shape = in_shape if in_shape is not None else _input_shape(layer)
    if in_shape is not None and len(in_shape) == 4 and hasattr(layer, "padding"):
        window = getattr(layer, "kernel_size", None) or getattr(layer, "pool_size", None)
        strides = getattr(layer, "strides", None) or window
        dilation = getattr(layer, "dilation_rate", (1, 1))
        if window is not None:
            sizes = [
                size_arithmetic(in_shape[1 + i], window[i], strides[i], layer.padding, dilation[i]) for i in (0, 1)
            ]
            parts.append(f"size {sizes[0]}" if sizes[0] == sizes[1] else f"height {sizes[0]}; width {sizes[1]}")
    if params is None and layer.built:
        params = layer.count_params()
    if cls in ("Conv2D",) and params is not None:
        fh, fw = layer.kernel_size
        c_in, k = in_shape[-1], layer.filters
        bias = f" + {k}" if layer.use_bias else ""
        parts.append(f"params {fh}·{fw}·{c_in}·{k}{bias} = {params:,}")
    elif cls == "Dense" and params is not None:
        bias = f" + {layer.units}" if layer.use_bias else ""
        parts.append(f"params {in_shape[-1]}·{layer.units}{bias} = {params:,}")
    return "; ".join(parts)


def size_arithmetic(h: int | None, f: int, s: int, padding: str, dilation: int = 1) -> str:
    """One spatial dimension through a conv/pool window: 'H → (H + 2P − F)/S + 1 = OH'."""
    if h is None:
        return "variable"
    f_eff = (f - 1) * dilation + 1
    if padding == "same":
        out = math.ceil(h / s)
        pad_total = max((out - 1) * s + f_eff - h, 0)
    else:
        pad_total = 0
        out = (h - f_eff) // s + 1
    pad = f"2·{pad_total // 2}" if pad_total % 2 == 0 else f"{pad_total}"
    inner = f"({h} + {pad} − {f_eff})/{s}"
    exact = (h + pad_total - f_eff) % s == 0
    return f"{h} → {inner if exact else '⌊' + inner + '⌋'} + 1 = {out}"


def _input_shape(layer):
    try:
        return tuple(layer.input.shape)
    except (AttributeError, ValueError):
        return None


def shape_text(shape, unknown: str = "?") -> str:
    """(None, 28, 28, 32) as Keras prints it; ``unknown`` when there is no shape."""
    return "(" + ", ".join("None" if d is None else str(d) for d in shape) + ")" if shape else unknown


def _shape(tensor) -> str:
    try:
        return shape_text(tensor.shape)
    except (AttributeError, ValueError):
        return "?"
