"""The printed half of each lesson: grids, the size rule, each multiply-and-sum."""

from __future__ import annotations

import numpy as np

from cnnlab.explain import xor as xor_mod
from cnnlab.explain.conv import ConvResult, relu, rule_text
from cnnlab.explain.numbers import channels_text, fmt, fmt_factor, grid_text, shape_text
from cnnlab.explain.pool import PoolResult


def cell_sum_text(r: ConvResult, i: int, j: int, decimals: int, scale: tuple[str, float] | None = None) -> list[str]:
    """out[i,j] = x*k + x*k + ... = v, per channel when there are several. With a scaled
    filter (1/9 * weights) the factor stays outside, as on paper: 1/9 * (1*1 + ...) = 1/9 * 9 = 1."""
    rows, cols = r.window(i, j)
    lines = [(f"out[{i},{j}]: window rows {rows.start}..{rows.stop - 1}, columns {cols.start}..{cols.stop - 1} "
             "of the padded input")]
    channels = r.x.shape[-1]
    factor = scale[1] if scale and scale[1] not in (0.0, 1.0) else 1.0
    for c in range(channels):
        window, k = r.padded[rows, cols, c], r.kernel[..., c] / factor
        terms = " + ".join(f"{fmt_factor(a, decimals)}*{fmt_factor(b, decimals)}"
                           for a, b in zip(window.ravel(), k.ravel()))
        label = f"  channel {c + 1}: " if channels > 1 else "  "
        value = fmt(r.channel_maps[i, j, c], decimals)
        if factor != 1.0:
            unscaled = fmt(float((window * k).sum()), decimals)
            lines.append(f"{label}{scale[0]} * ({terms}) = {scale[0]} * {fmt_factor(float(unscaled), decimals)} = {value}")
        else:
            lines.append(f"{label}{terms} = {value}")
    parts = [fmt(v, decimals) for v in r.channel_maps[i, j]]
    if channels > 1 or r.bias:
        total = " + ".join(parts) + (f" + bias {fmt(r.bias, decimals)}" if r.bias else "")
        lines.append(f"  out[{i},{j}] = {total} = {fmt(r.out[i, j], decimals)}")
    return lines


def conv_text(r: ConvResult, decimals: int = 2, cells: int = 2, with_relu: bool = False,
              filter_note: str = "", scale: tuple[str, float] | None = None) -> str:
    fh, fw, c = r.kernel.shape
    oh, ow = r.out.shape
    p = r.pads
    out = [f"input {shape_text(r.x)}, filter {fh}x{fw}{'x' + str(c) if c > 1 else ''}{filter_note}, "
           f"stride {r.stride}, padding {p.mode}" + (f", bias {fmt(r.bias, decimals)}" if r.bias else ""), ""]
    if p.top or p.bottom or p.left or p.right:
        out.append(f"padded input ({r.padded.shape[0]}x{r.padded.shape[1]}, [zeros] added by padding):")
        out.append(channels_text(r.padded, decimals, mark=r.is_padding))
    else:
        out.append("input (no padding):")
        out.append(channels_text(r.padded, decimals))
    out += ["", "filter:", channels_text(r.kernel, decimals), ""]
    out.append(rule_text(r.x.shape[:2], (fh, fw), r.stride, p))
    out.append(f"parameters of this one filter: {fh}*{fw}*{c} weights + 1 bias = {fh * fw * c + 1}")
    out += ["", (f"each output cell = sum of (window x filter){' over all channels' if c > 1 else ''}"
            f"{' + bias' if r.bias else ''}; the window moves {r.stride} pixel(s) at a time:")]
    shown = min(cells, oh * ow)
    for n in range(shown):
        out += cell_sum_text(r, n // ow, n % ow, decimals, scale)
    if shown < oh * ow:
        out.append(f"  ({shown} of {oh * ow} cells written out; the picture shows more)")
    if c > 1:
        out += ["", "each channel's own map (they add up, with the bias, to the output):"]
        out.append(channels_text(r.channel_maps, decimals))
    out += ["", f"output map ({oh}x{ow}){' before ReLU' if with_relu else ''}:", grid_text(r.out, decimals)]
    if with_relu:
        out += ["", relu_summary(r.out, decimals), grid_text(relu(r.out), decimals)]
    return "\n".join(out)


def relu_summary(values: np.ndarray, decimals: int = 2) -> str:
    negative = int((values < 0).sum())
    return (f"after ReLU, max(0, x) cell by cell: {negative} of {values.size} value(s) were negative "
            "and became 0, the rest pass unchanged:")


def relu_text(x: np.ndarray, decimals: int = 2) -> str:
    return "\n".join([f"input ({shape_text(x)}):", channels_text(x, decimals), "",
                      relu_summary(x, decimals), channels_text(relu(x), decimals)])


def dropped_text(h: int, w: int, oh: int, ow: int, size: int, stride: int) -> list[str]:
    """The rows / columns no window reaches when (H - size) is not a multiple of the stride:
    the floor in the size rule drops them (pooling adds no padding)."""
    lines = []
    for n, out, axis in ((h, oh, "row"), (w, ow, "column")):
        used = (out - 1) * stride + size  # the last window ends here
        if used < n:
            what = f"last {axis} ({axis} {used}" if n - used == 1 else f"last {n - used} {axis}s ({axis}s {used}-{n - 1}"
            lines.append(f"  the floor drops the {what}, counting from 0): no whole window fits there, and pooling "
                         "adds no padding")  # fmt: skip
    return lines


def pool_text(r: PoolResult, decimals: int = 2) -> str:
    h, w, c = r.x.shape
    oh, ow = next(iter(r.maps.values())).shape[:2]
    out = [f"input {shape_text(r.x)}, window {r.size}x{r.size}, stride {r.stride} (no padding, no weights to learn)",
           channels_text(r.x, decimals), "",
           ("output size: floor((H - size)/stride) + 1 = "
           f"floor(({h} - {r.size})/{r.stride}) + 1 = {oh} row{'s' * (oh != 1)}, "
           f"floor(({w} - {r.size})/{r.stride}) + 1 = {ow} column{'s' * (ow != 1)}"),
           *dropped_text(h, w, oh, ow, r.size, r.stride), ""]
    for i in range(oh):
        for j in range(ow):
            rows, cols = r.window(i, j)
            for ch in range(c):
                values = ", ".join(fmt(v, decimals) for v in r.x[rows, cols, ch].ravel())
                label = f" channel {ch + 1}" if c > 1 else ""
                results = ", ".join(f"{kind} {fmt(m[i, j, ch], decimals)}" for kind, m in r.maps.items())
                out.append(f"  window [{i},{j}]{label} = {{{values}}} -> {results}")
    for kind, m in r.maps.items():
        out += ["", f"{kind} pooling ({oh}x{ow}):", channels_text(m, decimals)]
    gap = ", ".join(fmt(v, decimals) for v in r.global_average)
    out += ["", f"global average pooling: the mean of each whole channel -> {c} number(s): {gap}",
            f"  ({shape_text(r.x)} becomes a vector of length {c}, whatever the image size)"]
    return "\n".join(out)


def _table(net: xor_mod.XorNet, decimals: int) -> list[str]:
    hidden, y = net.hidden(xor_mod.X), net.predict(xor_mod.X)
    lines = ["  x1  x2 |    a1    a2 |     y  class  target"]
    for x, a, v, t in zip(xor_mod.X, hidden, y, xor_mod.Y):
        lines.append(f"  {x[0]:>2.0f}  {x[1]:>2.0f} | {fmt(a[0], decimals):>5} {fmt(a[1], decimals):>5} | "
                     f"{fmt(v, decimals):>5}  {int(v > 0.5):>5}  {t:>6.0f}")
    return lines


def xor_text(net: xor_mod.XorNet, decimals: int = 2) -> str:
    w1, w2, b = xor_mod.least_squares_line()
    attempt = xor_mod.best_line()
    pw = attempt.weights
    out = ["XOR truth table: y is 1 when exactly one input is 1", "  x1  x2 | y"]
    out += [f"  {x[0]:>2.0f}  {x[1]:>2.0f} | {t:.0f}" for x, t in zip(xor_mod.X, xor_mod.Y)]
    out += ["", "one linear unit, y = 1 when w1*x1 + w2*x2 + b > 0, would need all four of:",
            "  (0,0) -> 0:  b <= 0", "  (0,1) -> 1:  w2 + b > 0", "  (1,0) -> 1:  w1 + b > 0",
            "  (1,1) -> 0:  w1 + w2 + b <= 0",
            "  adding the middle two: w1 + w2 + 2b > 0, so w1 + w2 + b > -b >= 0, contradicting the last one.",
            "  No straight line puts (0,1), (1,0) on one side and (0,0), (1,1) on the other.",
            (f"  best least-squares line: y = {fmt(w1, decimals)}*x1 + {fmt(w2, decimals)}*x2 + {fmt(b, decimals)}"
            " (0.5 for every row: it cannot tell them apart)"),
            f"  trying {attempt.tried} lines (w1, w2, b each from -2 to 2 in steps of 0.5): the best, "
            f"w1={fmt(pw[0], decimals)}, w2={fmt(pw[1], decimals)}, b={fmt(pw[2], decimals)}, gets "
            f"{attempt.correct} of 4 rows right and misclassifies "
            + ", ".join(f"({a},{b})" for a, b in attempt.wrong_rows),
            "", f"a hidden layer of 2 {net.activation} units ({net.idea}):"]
    out += [f"  hidden weights w1 (rows x1, x2; columns a1, a2) = {net.w1.tolist()}, biases {net.b1.tolist()}",
            f"  output weights {net.w2[:, 0].tolist()}, bias {net.b2.tolist()}, output activation {net.output}"]
    out += _table(net, decimals)
    right = int(((net.predict(xor_mod.X) > 0.5) == xor_mod.Y.astype(bool)).sum())
    out += ["", f"{right} of 4 rows right. In the (a1, a2) plane the four rows sit at "
            + ", ".join(f"({fmt(a[0], decimals)}, {fmt(a[1], decimals)})" for a in net.hidden(xor_mod.X))
            + ": now one straight line separates them, so the output unit can finish the job."]
    return "\n".join(out)
