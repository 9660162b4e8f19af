"""The drawn half of each lesson (matplotlib Figures, Agg backend, never shown).

Every panel has a title and axis labels; where colour carries a value there is a
colour bar. Diverging data (filters, products, maps with negatives) share a scale
centred at zero so a sign flip is a colour flip."""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402
from matplotlib.patches import Rectangle  # noqa: E402

from cnnlab.explain import xor as xor_mod  # noqa: E402
from cnnlab.explain.conv import ConvResult, relu  # noqa: E402
from cnnlab.explain.numbers import fmt  # noqa: E402
from cnnlab.explain.pool import PoolResult  # noqa: E402

MAX_NUMBERS = 16  # write the numbers into cells only for grids up to this many rows/columns
DIVERGING = "coolwarm"


def _cmap(name: str):
    return matplotlib.colormaps[name].with_extremes(bad="#e8e8e8")  # grey: cells outside a window


def _ink(rgba) -> str:
    """Black text on light cells, white on dark ones."""
    r, g, b = rgba[:3]
    return "black" if 0.299 * r + 0.587 * g + 0.114 * b > 0.5 else "white"


def _sym(*arrays) -> float:
    top = max((float(np.nanmax(np.abs(a))) for a in arrays if np.size(a)), default=1.0)
    return top or 1.0


def draw_grid(ax, grid, title, *, vmin, vmax, cmap=DIVERGING, decimals=2, labels=None, colorbar=None,
              text_grid=None):
    """imshow a 2-D grid with its numbers written in; ``text_grid`` overrides the numbers
    (NaN cells get none). Returns the image for a shared colour bar."""
    grid = np.asarray(grid, dtype=float)
    colormap = _cmap(cmap)
    im = ax.imshow(grid, cmap=colormap, vmin=vmin, vmax=vmax)
    rows, cols = grid.shape
    ax.set_title(title, fontsize=8)
    ax.set_xlabel("column", fontsize=7)
    ax.set_ylabel("row", fontsize=7)
    step = max(1, math.ceil(max(rows, cols) / 8))
    ax.set_xticks(range(0, cols, step))
    ax.set_yticks(range(0, rows, step))
    ax.tick_params(labelsize=6)
    if colorbar:  # first: the colour bar takes its room from the axes, and the numbers must fit what is left
        ax.figure.colorbar(im, ax=ax, fraction=0.046, pad=0.04).set_label(colorbar, fontsize=7)
    numbers = grid if text_grid is None else np.asarray(text_grid, dtype=float)
    if max(rows, cols) <= MAX_NUMBERS:
        longest = max((len(fmt(v, decimals)) for v in numbers.flat if not np.isnan(v)), default=1)
        size = min(7 if max(rows, cols) <= 8 else 5, fitting_fontsize(ax, rows, cols, longest))
        for i in range(rows):
            for j in range(cols):
                if not np.isnan(numbers[i, j]):
                    color = "#777777" if np.isnan(grid[i, j]) else _ink(colormap(im.norm(grid[i, j])))
                    ax.text(j, i, fmt(numbers[i, j], decimals), ha="center", va="center", fontsize=size, color=color,
                            in_layout=False)  # inside the axes: layout need not measure them (10x faster)
    return im


CHAR_WIDTH = 0.62  # a digit of DejaVu Sans is ~0.6 em wide; '-' a little more, '.' less
MIN_FONT = 4.0


def fitting_fontsize(ax, rows: int, cols: int, chars: int) -> float:
    """The largest font (points) at which ``chars`` characters fit in one cell of a rows x
    cols image drawn at ``ax``'s current size (square cells: imshow keeps the aspect), so
    the numbers of neighbouring cells do not run together ("0.110.110.11")."""
    fig = ax.figure
    pos = ax.get_position()
    cell = 72 * min(pos.width * fig.get_figwidth() / cols, pos.height * fig.get_figheight() / rows)  # points
    return max(MIN_FONT, 0.9 * cell / (CHAR_WIDTH * max(chars, 1)))


def cell_panel_inches(cells: int, chars: int, font: float = 6.0) -> float:
    """Panel size (inches) whose cells fit ``chars`` characters at ``font`` points; a plain
    GridSpec gives an axes about 0.6 of its panel."""
    return CHAR_WIDTH * font * chars / 0.9 / 72 * cells / 0.6


def _outline(ax, top, left, height, width, color="black", lw=2.0, style="-"):
    ax.add_patch(Rectangle((left - 0.5, top - 0.5), width, height, fill=False, edgecolor=color, lw=lw, ls=style))


def _outline_original(ax, r: ConvResult):
    """Dashed frame around the original input inside the padded one."""
    h, w = r.x.shape[:2]
    if r.padded.shape[:2] != (h, w):
        _outline(ax, r.pads.top, r.pads.left, h, w, color="#444444", lw=1.0, style="--")


def conv_figure(r: ConvResult, max_panels: int = 16, decimals: int = 2, with_relu: bool = False):
    """Top: the padded input (per channel), the filter, each channel's map, the output
    (and after ReLU). Below: one panel per output cell, its window's products and sum."""
    channels = r.x.shape[-1]
    oh, ow = r.out.shape
    total, shown = oh * ow, min(max_panels, oh * ow)
    ncols_cells = min(4, shown)
    nrows_cells = math.ceil(shown / ncols_cells)
    top_rows = channels + (1 if channels > 1 or with_relu else 0)
    panel = 2.4 if max(r.padded.shape[:2]) <= 10 else 3.2
    if max(r.padded.shape[:2]) <= MAX_NUMBERS:  # room for each window's products, written in its cells
        cells = [r.products(n // ow, n % ow).sum(axis=-1) for n in range(shown)]
        chars = max(len(fmt(v, decimals)) for v in np.concatenate([c.ravel() for c in cells] + [r.padded.ravel()]))
        panel = max(panel, min(4.5, cell_panel_inches(max(r.padded.shape[:2]), chars)))
    ncols = max(3, ncols_cells)
    # a plain GridSpec, not constrained layout: with hundreds of numbers drawn in,
    # constrained layout takes most of the time (seconds) measuring them
    head = 1.4  # inches above the first row: the two-line suptitle, then the panels' two-line titles
    height = (top_rows + nrows_cells) * panel + head + 0.4
    fig = plt.figure(figsize=(ncols * panel + 1.5, height))
    grid = fig.add_gridspec(top_rows + nrows_cells, ncols, hspace=0.55, wspace=0.75, top=1 - head / height,
                            bottom=0.4 / height)
    axes = np.array([[fig.add_subplot(grid[row, col]) for col in range(3)] for row in range(top_rows)])
    cell_axes = np.array([[fig.add_subplot(grid[top_rows + row, col]) for col in range(ncols_cells)]
                          for row in range(nrows_cells)])
    in_scale = _sym(r.padded)
    k_scale = _sym(r.kernel)
    out_scale = _sym(r.out, r.channel_maps)
    first_rows, first_cols = r.window(0, 0)
    for c in range(channels):
        suffix = f" (channel {c + 1})" if channels > 1 else ""
        padding = f", padding {r.pads.mode}" if r.pads.mode != "valid" else ""
        ax = axes[c, 0]
        draw_grid(ax, r.padded[..., c], f"input {r.padded.shape[0]}x{r.padded.shape[1]}{padding}{suffix}\n"
                  "red: the first window", vmin=-in_scale, vmax=in_scale, decimals=decimals, colorbar="pixel value")
        _outline_original(ax, r)
        _outline(ax, first_rows.start, first_cols.start, r.kernel.shape[0], r.kernel.shape[1], color="red")
        draw_grid(axes[c, 1], r.kernel[..., c], f"filter{suffix}", vmin=-k_scale, vmax=k_scale, decimals=decimals,
                  colorbar="weight")
        label = f"channel {c + 1}'s sums" if channels > 1 else (
            "output map" + (f" (incl. bias {fmt(r.bias, decimals)})" if r.bias else "") + (" before ReLU" if with_relu else ""))
        draw_grid(axes[c, 2], r.channel_maps[..., c] if channels > 1 else r.out, label,
                  vmin=-out_scale, vmax=out_scale, decimals=decimals, colorbar="sum")
    if channels > 1 or with_relu:
        last = axes[-1]
        last[0].axis("off")
        if channels > 1:
            plus = " + ".join(f"ch{c + 1}" for c in range(channels)) + (f" + bias {fmt(r.bias, decimals)}" if r.bias else "")
            draw_grid(last[1], r.out, f"output = {plus}", vmin=-out_scale, vmax=out_scale, decimals=decimals,
                      colorbar="sum")
        else:
            last[1].axis("off")
        if with_relu:
            draw_grid(last[2], relu(r.out), "after ReLU: max(0, x)", vmin=-out_scale, vmax=out_scale,
                      decimals=decimals, colorbar="value")
        else:
            last[2].axis("off")
    products = [r.products(n // ow, n % ow).sum(axis=-1) for n in range(shown)]  # summed over channels
    p_scale = _sym(*products)
    image = None
    big = max(r.padded.shape[:2]) > MAX_NUMBERS
    for n, ax in enumerate(cell_axes.flat):
        if n >= shown:
            ax.axis("off")
            continue
        i, j = n // ow, n % ow
        rows, cols = r.window(i, j)
        grid = np.full(r.padded.shape[:2], np.nan)
        grid[rows, cols] = products[n]
        text = np.full(r.padded.shape[:2], np.nan) if channels > 1 or big else r.padded[..., 0].copy()
        text[rows, cols] = products[n]
        image = draw_grid(ax, grid, f"out[{i},{j}] = sum{' + bias' if r.bias else ''} = {fmt(r.out[i, j], decimals)}", vmin=-p_scale,
                          vmax=p_scale, decimals=decimals, text_grid=text)
        _outline_original(ax, r)
        _outline(ax, rows.start, cols.start, r.kernel.shape[0], r.kernel.shape[1], color="red")
    fig.colorbar(image, ax=list(cell_axes.flat), shrink=0.8).set_label(
        "window value x filter weight" + (" (summed over channels)" if channels > 1 else ""), fontsize=8)
    note = f"{shown} of {total} shown" if shown < total else f"all {total} shown"
    fig.suptitle(f"convolution, stride {r.stride}: {r.x.shape[0]}x{r.x.shape[1]} input -> {oh}x{ow} map\n"
                 f"lower panels: one per output cell ({note}), red window, element-wise products inside it "
                 "(grey numbers: input values outside)", fontsize=10, y=1 - 0.12 / height, va="top")
    return fig


def sizes_figure(panels: list[tuple[str, np.ndarray, object, tuple[int, int]]]):
    """Heatmaps of how many windows read each (padded) input pixel; one per padding choice.
    Each panel: (title, counts (maybe a top-left crop), pads, original (H, W))."""
    fig, axes = plt.subplots(1, len(panels), figsize=(4.2 * len(panels), 4.0), squeeze=False, layout="constrained")
    vmax = max(int(c.max()) for _, c, _, _ in panels) or 1
    for ax, (title, counts, pads, (h, w)) in zip(axes[0], panels):
        draw_grid(ax, counts, title, vmin=0, vmax=vmax, cmap="viridis", decimals=0,
                  colorbar="windows reading this pixel")
        if (pads.top, pads.bottom, pads.left, pads.right) != (0, 0, 0, 0):
            _outline(ax, pads.top, pads.left, h, w, color="white", lw=1.5, style="--")
    fig.suptitle("how often each input pixel is used (dashed: the original image inside the zero padding)",
                 fontsize=10)
    return fig


def pool_figure(r: PoolResult, decimals: int = 2):
    """The input with each window in its own colour, then max, average, min and global
    average pooling of the first channel on one colour scale."""
    channels = r.x.shape[-1]
    x = r.x[..., 0]
    lo, hi = float(x.min()), float(x.max())
    hi = hi if hi > lo else lo + 1
    kinds = list(r.maps)
    fig, axes = plt.subplots(1, 2 + len(kinds), figsize=(3.3 * (2 + len(kinds)), 3.6), layout="constrained")
    draw_grid(axes[0], x, f"input {x.shape[0]}x{x.shape[1]}: {r.size}x{r.size} windows, stride {r.stride}",
              vmin=lo, vmax=hi, cmap="Blues", decimals=decimals)
    palette = matplotlib.colormaps["tab10"]
    oh, ow = r.maps[kinds[0]].shape[:2]
    for n in range(oh * ow):
        i, j = divmod(n, ow)
        rows, cols = r.window(i, j)
        inset = 0.08 * (n % 3) if r.stride < r.size else 0.04  # overlapping windows stay distinguishable
        ax_rect = Rectangle((cols.start - 0.5 + inset, rows.start - 0.5 + inset), r.size - 2 * inset,
                            r.size - 2 * inset, fill=False, edgecolor=palette(n % 10), lw=2.5)
        axes[0].add_patch(ax_rect)
    image = None
    for ax, kind in zip(axes[1:], kinds):
        image = draw_grid(ax, r.maps[kind][..., 0], f"{kind} pooling ({oh}x{ow})", vmin=lo, vmax=hi,
                          cmap="Blues", decimals=decimals)
        for n in range(oh * ow):
            i, j = divmod(n, ow)
            ax.add_patch(Rectangle((j - 0.46, i - 0.46), 0.92, 0.92, fill=False, edgecolor=palette(n % 10), lw=2.5))
    draw_grid(axes[-1], np.array([[r.global_average[0]]]), "global average pooling\n(one number per channel)",
              vmin=lo, vmax=hi, cmap="Blues", decimals=decimals)
    fig.colorbar(image, ax=list(axes), shrink=0.8).set_label("value", fontsize=8)
    note = f" (channel 1 of {channels} shown)" if channels > 1 else ""
    fig.suptitle(f"pooling: each coloured window becomes one number{note}", fontsize=10)
    return fig


def relu_figure(x: np.ndarray, decimals: int = 2, max_channels: int = 4):
    channels = min(x.shape[-1], max_channels)
    scale = _sym(x)
    fig, axes = plt.subplots(channels, 2, figsize=(7.5, 3.4 * channels), squeeze=False, layout="constrained")
    image = None
    for c in range(channels):
        suffix = f" (channel {c + 1})" if x.shape[-1] > 1 else ""
        draw_grid(axes[c, 0], x[..., c], f"before ReLU{suffix}", vmin=-scale, vmax=scale, decimals=decimals)
        image = draw_grid(axes[c, 1], relu(x[..., c]), f"after ReLU: max(0, x){suffix}", vmin=-scale, vmax=scale,
                          decimals=decimals)
    fig.colorbar(image, ax=list(axes.flat), shrink=0.8).set_label("value (same scale both sides)", fontsize=8)
    note = f" ({channels} of {x.shape[-1]} channels shown)" if x.shape[-1] > channels else ""
    fig.suptitle(f"ReLU: negatives become 0, positives pass unchanged{note}", fontsize=10)
    return fig


def _points(ax, xy, decimals=2, labels=True):
    """The four XOR rows at ``xy``; rows that land on the same point (the hidden layer maps
    (0,0) and (1,1) together) share one label instead of printing over each other."""
    shared: dict[tuple[float, float], list[str]] = {}
    for (a, b), target, x in zip(xy, xor_mod.Y, xor_mod.X):
        ax.scatter(a, b, s=120, c="tab:orange" if target else "tab:blue", marker="o" if target else "s",
                   edgecolors="black", zorder=3)
        shared.setdefault((round(float(a), 2), round(float(b), 2)), []).append(f"x=({x[0]:.0f},{x[1]:.0f}) y={target:.0f}")
    if labels:
        for (a, b), names in shared.items():
            ax.annotate("\n".join(names), (a, b), textcoords="offset points", xytext=(6, 6), fontsize=7,
                        bbox={"boxstyle": "round,pad=0.15", "fc": "white", "ec": "none", "alpha": 0.8})


def _line(ax, w1, w2, b, level, lo=-0.5, hi=1.5, **style):
    """Draw w1*u + w2*v + b = level over [lo, hi]."""
    u = np.linspace(lo, hi, 50)
    if abs(w2) > 1e-9:
        ax.plot(u, (level - b - w1 * u) / w2, **style)
    elif abs(w1) > 1e-9:
        ax.axvline((level - b) / w1, **style)


def xor_figure(net: xor_mod.XorNet, decimals: int = 2):
    attempt = xor_mod.best_line()
    fig, axes = plt.subplots(1, 3, figsize=(15, 4.6), layout="constrained")
    ax = axes[0]
    _points(ax, xor_mod.X)
    _line(ax, *attempt.weights, 0.0, color="gray", ls="--", label="best line of one unit")
    ax.set_title(f"one linear unit: at best {attempt.correct} of 4 right", fontsize=9)
    ax.legend(fontsize=7, loc="lower left")

    ax = axes[1]
    hidden = net.hidden(xor_mod.X)
    _points(ax, hidden)
    level = 0.0 if net.output == "sigmoid" else 0.5  # where the output unit says 0.5
    span = (min(-0.5, float(hidden.min()) - 0.5), max(1.5, float(hidden.max()) + 0.5))
    _line(ax, net.w2[0, 0], net.w2[1, 0], net.b2[0], level, *span, color="black", label="output unit's line")
    ax.set_xlim(*span)
    ax.set_ylim(*span)
    ax.set_title(f"hidden layer ({net.activation}): rows moved to (a1, a2), now separable", fontsize=9)
    ax.set_xlabel("a1")
    ax.set_ylabel("a2")
    ax.legend(fontsize=7, loc="upper right")

    ax = axes[2]
    u = np.linspace(-0.5, 1.5, 161)
    uu, vv = np.meshgrid(u, u)
    y = net.predict(np.c_[uu.ravel(), vv.ravel()]).reshape(uu.shape)
    filled = ax.contourf(uu, vv, y, levels=20, cmap="RdYlBu_r")
    ax.contour(uu, vv, y, levels=[0.5], colors="black", linewidths=2)
    _points(ax, xor_mod.X, labels=False)
    fig.colorbar(filled, ax=ax).set_label("network output y (black line: 0.5)", fontsize=8)
    ax.set_title("decision boundary of the 2-unit network", fontsize=9)
    for ax in (axes[0], axes[2]):
        ax.set_xlim(-0.5, 1.5)
        ax.set_ylim(-0.5, 1.5)
        ax.set_xlabel("x1")
        ax.set_ylabel("x2")
    fig.suptitle("XOR: squares are y=0, circles y=1", fontsize=10)
    return fig
