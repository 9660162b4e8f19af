"""Pictures of what a CNN learned. Pure: numpy arrays in, matplotlib Figure out
(Agg backend, never shown). ``cnnlab.inspect.probes`` computes the arrays.

Grids of one panel per channel/filter (filters, feature maps, patterns) are one image
mosaic each (cnnlab.mosaic); ``grid_panels(fig)`` lists their panels. Figures
with a few larger panels (histograms, strip, pairs, Grad-CAM) give each panel an Axes
labelled "panel": ``[ax for ax in fig.axes if ax.get_label() == "panel"]``.
"""

from __future__ import annotations

import math

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cnnlab.mosaic import draw_mosaic, grid_panels, grid_shape, stretch_each  # noqa: E402

PANEL = "panel"
TOP_INCHES = 0.72  # under the suptitle of a grid: its two lines, then the panels' numbers
__all__ = ["PANEL", "grid_panels", "grid_shape"]  # and the plot_* functions


def shown_text(shown: int, total: int, noun: str) -> str:
    return f"{shown} of {total} {noun} shown" if shown < total else f"all {total} {noun}"


def _grid_axes(fig, n: int, left_cols: int = 0):
    """(gridspec, the one Axes the n panels' mosaic fills), leaving ``left_cols`` grid columns
    free on the left; the mosaic keeps to the top, beside whatever sits there."""
    rows, cols = grid_shape(n)
    # The top margin in inches, not a fraction: the two-line title and the first row's numbers
    # must fit above the grid however few rows the figure has.
    top = 0.98 - TOP_INCHES / fig.get_figheight()
    gs = fig.add_gridspec(max(rows, 2 if left_cols else 1), cols + left_cols, top=top)
    ax = fig.add_subplot(gs[:, left_cols:])
    ax.set_anchor("N")
    return gs, ax


def _show_image(ax, image: np.ndarray, **kwargs):
    """(H, W, 1|3) uint8 or float image; grayscale for one channel."""
    image = np.asarray(image)
    if image.ndim == 3 and image.shape[-1] == 1:
        ax.imshow(image[..., 0], cmap="gray", **kwargs)
    else:
        ax.imshow(image.astype(np.uint8) if image.dtype != np.uint8 and image.max() > 1 else image, **kwargs)
    ax.set_xticks([])
    ax.set_yticks([])


def _figure(n_panels: int, left_cols: int = 0, panel_inches: float = 1.15):
    rows, cols = grid_shape(n_panels)
    rows = max(rows, 2 if left_cols else 1)
    return plt.figure(figsize=(1.2 + panel_inches * (cols + left_cols), 0.9 + panel_inches * 1.1 * rows))


# ---------------------------------------------------------------- filters


def plot_filters(kernel: np.ndarray, layer: str, max_panels: int = 64):
    """Conv kernels (kh, kw, in, out): one panel per output filter, showing input
    channel 0 (or RGB when in == 3), all on one symmetric scale centred at zero."""
    kh, kw, cin, cout = kernel.shape
    n = min(cout, max_panels)
    shown = np.moveaxis(kernel[..., :n], -1, 0)  # (n, kh, kw, in)
    vmax = float(np.abs(shown).max()) or 1.0  # all-zero kernels: any non-zero scale
    rgb = cin == 3
    fig = _figure(n)
    _, ax = _grid_axes(fig, n)
    labels = [f"#{i}" for i in range(n)]
    if rgb:  # zero -> grey 0.5, +-vmax -> 0 / 1 per colour channel
        draw_mosaic(ax, np.clip(0.5 + shown / (2 * vmax), 0, 1), labels)
    else:
        panels = draw_mosaic(ax, shown[..., 0], labels, cmap="RdBu_r", vmin=-vmax, vmax=vmax)
    which = "RGB input channels" if rgb else ("input channel 0" if cin > 1 else "")
    size = f"{kh}x{kw}" + (f", {which}" if which else "")
    fig.suptitle(f"{layer}: filters ({size}), {shown_text(n, cout, 'filters')}\n"
                 f"one scale for all panels, centred at 0 (max |w| = {vmax:.3g})", fontsize=10)  # fmt: skip
    if not rgb:
        fig.colorbar(panels[0].image, ax=ax, shrink=0.6, label="weight", panchor=False)  # keeps the grid at the top
    elif cin == 3:
        fig.text(0.5, 0.01, "grey = 0; brighter/darker colour = positive/negative weight on that channel",
                 ha="center", fontsize=8)  # fmt: skip
    return fig


# ---------------------------------------------------------------- weight histograms


def plot_weight_histograms(after: list[tuple[str, np.ndarray]], before: list[tuple[str, np.ndarray]] | None, layer: str):
    """One panel per weight variable (kernel, bias, gamma, ...): before vs after training."""
    n = len(after)
    cols = min(n, 3)
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(4.2 * cols, 3.2 * rows), squeeze=False)
    for ax in axes.flat[n:]:
        ax.axis("off")
    for i, (name, w) in enumerate(after):
        ax = axes.flat[i]
        ax.set_label(PANEL)
        w = np.ravel(w)
        b = np.ravel(before[i][1]) if before else None
        both = w if b is None else np.concatenate([w, b])
        lo, hi = float(both.min()), float(both.max())
        bins = np.linspace(lo, hi, 41) if hi > lo else np.linspace(lo - 0.5, hi + 0.5, 41)
        if b is not None:
            ax.hist(b, bins=bins, alpha=0.55, label="before training", color="tab:gray")
        ax.hist(w, bins=bins, alpha=0.55, label="after training", color="tab:blue")
        title = f"{name} {tuple(np.shape(after[i][1]))}"
        if b is not None:
            title += f"\nmean |change| {np.abs(w - b).mean():.3g}"
        ax.set_title(title, fontsize=8)
        ax.set_xlabel("value", fontsize=8)
        ax.tick_params(labelsize=7)
        ax.legend(fontsize=7)
    note = "" if before else " (initial weights not saved for this run: after training only)"
    fig.suptitle(f"{layer}: weights before vs after training{note}", fontsize=10)
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- feature maps


def normalise_maps(maps: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(h, w, k) -> per-channel [0, 1] for display, and which channels are constant.
    A constant (e.g. dead, all-zero) channel has max == min: shown as 0, not NaN.
    1x1 maps (a backbone's last block on small inputs) share one scale instead:
    one pixel has no range of its own."""
    if maps.shape[0] * maps.shape[1] == 1:
        lo, span = float(maps.min()), float(maps.max() - maps.min())
        return ((maps - lo) / span if span > 0 else np.zeros_like(maps)), (maps == 0)[0, 0]
    lo = maps.min(axis=(0, 1), keepdims=True)
    span = maps.max(axis=(0, 1), keepdims=True) - lo
    constant = span[0, 0] == 0
    return np.where(span > 0, (maps - lo) / np.where(span > 0, span, 1.0), 0.0), constant


def plot_feature_maps(maps: np.ndarray, image: np.ndarray, layer: str, caption: str = "", max_maps: int = 64,
                      shared: bool = False):  # fmt: skip
    """Every channel of one image's activation (h, w, k), numbered, beside the image.
    ``shared``: one scale for all maps, centred at zero, with a colour bar, so values can
    be compared across channels (and negatives before a ReLU show as blue)."""
    h, w, k = maps.shape
    n = min(k, max_maps)
    if shared:
        return _shared_scale_maps(maps[..., :n], k, image, layer, caption)
    shown, constant = normalise_maps(maps[..., :n])
    fig, ax = _maps_figure(n, image, caption)
    labels = [f"#{i}" + ((" zero" if not maps[..., i].any() else " flat") if constant[i] else "") for i in range(n)]
    colors = ["tab:red" if c else "black" for c in constant]
    draw_mosaic(ax, np.moveaxis(shown, -1, 0), labels, colors, cmap="viridis", vmin=0, vmax=1)
    scale = "one scale for all maps" if h * w == 1 else "each map scaled to its own min..max"
    fig.suptitle(f"{layer}: feature maps {h}x{w}, {shown_text(n, k, 'channels')}\n"
                 f"{scale} (yellow = strongest); red: all zero / flat for this image", fontsize=10)  # fmt: skip
    return fig


def _maps_figure(n: int, image: np.ndarray, caption: str):
    """A figure with the image top-left and the Axes for n map panels beside it."""
    fig = _figure(n, left_cols=2)
    gs, ax = _grid_axes(fig, n, left_cols=2)
    ax_img = fig.add_subplot(gs[:2, :2])
    _show_image(ax_img, image)
    ax_img.set_title(caption or "input", fontsize=8)
    return fig, ax


def _shared_scale_maps(maps: np.ndarray, k: int, image: np.ndarray, layer: str, caption: str):
    h, w, n = maps.shape
    vmax = float(np.abs(maps).max()) or 1.0
    fig, ax = _maps_figure(n, image, caption)
    panels = draw_mosaic(ax, np.moveaxis(maps, -1, 0), [f"#{i}" for i in range(n)], cmap="RdBu_r", vmin=-vmax,
                         vmax=vmax)  # fmt: skip
    fig.colorbar(panels[0].image, ax=ax, shrink=0.6, label="activation", panchor=False)
    fig.suptitle(f"{layer}: feature maps {h}x{w}, {shown_text(n, k, 'channels')}\n"
                 f"one scale for all maps, centred at 0 (max |a| = {vmax:.3g}); white = 0", fontsize=10)  # fmt: skip
    return fig


def plot_strip(image: np.ndarray, stages: list[tuple[str, np.ndarray]], caption: str = "", channels: int = 4):
    """One image through a chain of conv/pooling layers: a column per layer holding its
    first ``channels`` maps, each drawn at its true size relative to the input (28 -> 14
    -> 7 shrinks on the page as it does in the network)."""
    height = image.shape[0]
    cols = len(stages) + 1
    fig, axes = plt.subplots(channels, cols, figsize=(1.9 * cols, 1.9 * channels + 0.8), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    _show_image(axes[0, 0], image, extent=(0, image.shape[1], image.shape[0], 0))
    axes[0, 0].set_xlim(0, image.shape[1])
    axes[0, 0].set_ylim(height, 0)
    axes[0, 0].set_title(f"{caption or 'input'}\n{image.shape[0]}x{image.shape[1]}", fontsize=8)
    for col, (name, maps) in enumerate(stages, 1):  # maps (h, w, k)
        h, w, k = maps.shape
        for row in range(min(channels, k)):
            ax = axes[row, col]
            ax.set_label(PANEL)
            m = maps[..., row]
            span = float(m.max() - m.min())
            # Drawn in a box of the input's size: a 7x7 map fills a quarter of the width.
            ax.imshow((m - m.min()) / span if span > 0 else np.zeros_like(m), cmap="viridis", vmin=0, vmax=1,
                      extent=(0, w, h, 0))  # fmt: skip
            ax.set_xlim(0, image.shape[1])
            ax.set_ylim(height, 0)
            ax.set_frame_on(True)
            if row == 0:
                ax.set_title(f"{name}\n{h}x{w}, {k} channels", fontsize=8)
            ax.text(0.5, -0.02, f"#{row}", transform=ax.transAxes, ha="center", va="top", fontsize=6)
    fig.suptitle("one image through the network, maps at their true relative size\n"
                 f"(first {channels} channels of each layer, each scaled to its own min..max)", fontsize=10)  # fmt: skip
    fig.tight_layout()
    return fig


def plot_filter_map_pairs(kernel: np.ndarray, maps: np.ndarray, image: np.ndarray, layer: str, caption: str = "",
                          max_pairs: int = 8):  # fmt: skip
    """Filter #i beside the map #i it makes from the image: what the filter looks for,
    and where it found it. kernel (kh, kw, in, out), maps (h, w, out).
    The input once at the top (every map is made from it), then one row per filter; the
    filters' colour bar spans the filter column only, on its left."""
    n = min(kernel.shape[-1], maps.shape[-1], max_pairs)
    vmax = float(np.abs(kernel[..., :n]).max()) or 1.0
    fig = plt.figure(figsize=(4.4, 1.55 * n + 2.6), layout="constrained")
    grid = fig.add_gridspec(n + 1, 2, height_ratios=[1.5] + [1] * n)
    ax_in = fig.add_subplot(grid[0, :])
    _show_image(ax_in, image)
    ax_in.set_title(f"input: {caption}" if caption else "input", fontsize=8)
    filter_axes = []
    for i in range(n):
        ax_f, ax_m = fig.add_subplot(grid[i + 1, 0]), fig.add_subplot(grid[i + 1, 1])
        im_f = ax_f.imshow(kernel[:, :, 0, i], cmap="RdBu_r", vmin=-vmax, vmax=vmax)
        ax_f.set_title(f"filter #{i}", fontsize=7)
        m = maps[..., i]
        ax_m.imshow(m, cmap="viridis")
        ax_m.set_title(f"map #{i}: max {m.max():.2g}", fontsize=7)
        ax_m.set_label(PANEL)
        for ax in (ax_f, ax_m):
            ax.set_xticks([])
            ax.set_yticks([])
        filter_axes.append(ax_f)
    bar = fig.colorbar(im_f, ax=filter_axes, location="left", shrink=0.9, aspect=40)
    bar.set_label("filter weight" + (" (input channel 0)" if kernel.shape[2] > 1 else ""), fontsize=8)
    fig.suptitle(f"{layer}: each filter beside the map it makes ({shown_text(n, kernel.shape[-1], 'filters')})",
                 fontsize=9)  # fmt: skip
    return fig


# ---------------------------------------------------------------- channel statistics


def plot_channel_stats(mean: np.ndarray, zero_fraction: np.ndarray, layer: str, source: str = ""):
    """Bars per channel: mean activation, and fraction of zeros (1.0 = dead for these images)."""
    k = len(mean)
    fig, (a1, a2) = plt.subplots(2, 1, figsize=(max(6.0, 0.14 * k + 2), 5), sharex=True)
    dead = zero_fraction >= 1.0
    a1.bar(range(k), mean, color=np.where(dead, "tab:red", "tab:blue"))
    a1.set_ylabel("mean activation")
    a2.bar(range(k), zero_fraction, color=np.where(dead, "tab:red", "tab:gray"))
    a2.set_ylim(0, 1.05)
    a2.set_ylabel("fraction of zeros")
    a2.set_xlabel("channel")
    for ax in (a1, a2):
        ax.grid(axis="y", alpha=0.3)
    a1.set_title(f"{layer}: {k} channels, {int(dead.sum())} dead (red: zero everywhere)"
                 + (f"\nover {source}" if source else ""), fontsize=10)  # fmt: skip
    fig.tight_layout()
    return fig


# ---------------------------------------------------------------- Grad-CAM


def plot_grad_cam(image: np.ndarray, heatmaps: list[tuple[str, np.ndarray]], layer: str, caption: str = ""):
    """The image, then each class's heatmap (H, W) in [0, 1] laid over it."""
    n = 1 + len(heatmaps)
    # the colour bar gets a column of its own, so the image and every heatmap are the same size
    fig, axes = plt.subplots(1, n + 1, figsize=(3.0 * n + 0.8, 3.4), squeeze=False, layout="constrained",
                             gridspec_kw={"width_ratios": [1] * n + [0.06]})
    cax, axes = axes[0, -1], axes[:, :-1]
    _show_image(axes[0, 0], image)
    axes[0, 0].set_title(caption or "input", fontsize=9)
    gray = np.asarray(image, np.float32).mean(axis=-1)  # (H, W): colour would fight the heatmap
    for ax, (title, cam) in zip(axes[0, 1:], heatmaps):
        ax.set_label(PANEL)
        ax.imshow(gray, cmap="gray")
        im = ax.imshow(cam, cmap="jet", alpha=0.45, vmin=0, vmax=1)
        ax.set_title(title + ("" if cam.max() > 0 else "\n(no positive evidence)"), fontsize=9)
        ax.set_xticks([])
        ax.set_yticks([])
    if heatmaps:
        fig.colorbar(im, cax=cax, label="importance")
    else:
        cax.axis("off")
    fig.suptitle(f"Grad-CAM on {layer}", fontsize=10)
    return fig


# ---------------------------------------------------------------- filter patterns


def plot_patterns(patterns: np.ndarray, channels: list[int], total: int, layer: str, gains: np.ndarray | None = None):
    """Gradient-ascent inputs (n, H, W, C) in 0..255, each stretched to its own range."""
    n = len(patterns)
    fig = _figure(n)
    _, ax = _grid_axes(fig, n)
    shown = stretch_each(patterns)  # each to its own 0..1
    labels = [f"#{c}" for c in channels]
    if shown.shape[-1] == 1:
        draw_mosaic(ax, shown[..., 0], labels, cmap="gray", vmin=0, vmax=1)
    else:
        draw_mosaic(ax, shown, labels)
    rose = f", mean activation rose for {int((gains > 0).sum())} of {n}" if gains is not None else ""
    fig.suptitle(f"{layer}: input patterns that maximise each filter (gradient ascent)\n"
                 f"{shown_text(n, total, 'filters')}{rose}; each stretched to its own range", fontsize=10)  # fmt: skip
    return fig
