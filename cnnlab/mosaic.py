"""Many small panels (filters, feature maps, patterns) as ONE image in ONE Axes.

matplotlib's cost is per Axes (ticks, spines, title layout, tight bounding boxes): 64
panel Axes took most of a report's drawing time. Here the panels are tiled into one
array with gaps, drawn with one imshow; frames are one collection and each panel's
number is a text above its tile. The figure lists its panels (``grid_panels(fig)``),
each with its label and the values its tile shows, so callers and tests can count and
check them.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
from matplotlib.collections import PatchCollection
from matplotlib.patches import Rectangle
from matplotlib.transforms import offset_copy

TILE_PIXELS = 32  # small maps/kernels are repeated up to this, so a gap can be a fraction of a tile
GAP_X = 0.22  # gap between columns, in tiles
GAP_Y = 0.4  # gap between rows, in tiles: room for the next row's numbers (the first row's sit above the Axes)
LABEL_PAD_POINTS = 3.0
ATTRIBUTE = "cnnlab_panels"


@dataclass
class Panel:
    """One tile of a mosaic: its number's text and where its values lie in the image."""

    label: object  # matplotlib Text above the tile
    image: object  # the mosaic's AxesImage (shared by all panels of the grid)
    rows: slice  # with the repeat factor as step: pixels() gives the tile at its own size
    cols: slice
    caption: object = None  # matplotlib Text under the tile, when given

    def pixels(self) -> np.ndarray:
        """The values this tile shows (h, w) or (h, w, 3|4), before any colour map."""
        return np.ma.getdata(self.image.get_array()[self.rows, self.cols])


def stretch_each(tiles: np.ndarray) -> np.ndarray:
    """(n, ...) values -> each tile stretched to its own 0..1 (as imshow scales one image);
    a flat tile is 0, not NaN."""
    tiles = np.asarray(tiles, np.float32)
    axes = tuple(range(1, tiles.ndim))
    lo, span = tiles.min(axis=axes, keepdims=True), np.ptp(tiles, axis=axes, keepdims=True)
    return np.where(span > 0, (tiles - lo) / np.where(span > 0, span, 1.0), 0.0)


def grid_shape(n: int) -> tuple[int, int]:
    """Near-square (rows, cols) for n panels, wider than tall."""
    cols = max(1, math.ceil(math.sqrt(n)))
    return max(1, math.ceil(n / cols)), cols


def grid_panels(fig) -> list[Panel]:
    """The panels the figure's mosaics show, in order."""
    return list(getattr(fig, ATTRIBUTE, []))


def draw_mosaic(ax, tiles: np.ndarray, labels: list[str], colors: list[str] | None = None, *, cols: int | None = None,
                captions: list[str] | None = None, gap_y: float = GAP_Y, fontsize: float = 7, frames: bool = True,
                **imshow) -> list[Panel]:  # fmt: skip
    """Tiles (n, h, w) of values, or (n, h, w, 3|4) of RGB(A) in 0..1, as one image in ``ax``:
    a near-square grid (or ``cols`` wide), each tile framed and titled by ``labels`` (in
    ``colors``), with ``captions`` under them. ``gap_y``: the gap between rows, in tiles (room
    for the labels and captions). ``imshow``: cmap, vmin, vmax for value tiles. Gaps are
    transparent (masked)."""
    n, h, w = tiles.shape[:3]
    rgb = tiles.ndim == 4
    rows, cols = (math.ceil(n / cols), cols) if cols else grid_shape(n)
    f = max(1, math.ceil(TILE_PIXELS / max(h, w)))
    th, tw = h * f, w * f
    gx, gy = max(1, round(GAP_X * tw)), max(1, round(gap_y * th))
    height, width = rows * th + (rows - 1) * gy, cols * tw + (cols - 1) * gx
    if rgb:  # alpha 0 in the gaps
        canvas = np.zeros((height, width, 4), np.float32)
    else:
        canvas = np.ma.masked_array(np.zeros((height, width), np.float32), mask=True)  # not masked_all: no garbage under the mask
    places = []
    for i in range(n):
        y0, x0 = (i // cols) * (th + gy), (i % cols) * (tw + gx)
        tile = np.repeat(np.repeat(tiles[i], f, axis=0), f, axis=1)
        if rgb:
            canvas[y0 : y0 + th, x0 : x0 + tw, : tile.shape[-1]] = tile
            canvas[y0 : y0 + th, x0 : x0 + tw, 3] = 1.0 if tile.shape[-1] == 3 else tile[..., 3]
        else:
            canvas[y0 : y0 + th, x0 : x0 + tw] = tile
        places.append((y0, x0))
    image = ax.imshow(canvas, interpolation="nearest", **imshow)
    ax.set_axis_off()
    # Frames as the panel Axes' spines were: one collection, not 4n lines; unclipped, or the
    # outer tiles' frames lose the half of the line that lies outside the Axes.
    if frames:
        boxes = [Rectangle((x0 - 0.5, y0 - 0.5), tw, th) for y0, x0 in places]
        ax.add_collection(PatchCollection(boxes, facecolor="none", edgecolor="black", linewidth=0.8, clip_on=False),
                          autolim=False)  # fmt: skip
    above = offset_copy(ax.transData, fig=ax.figure, y=LABEL_PAD_POINTS, units="points")
    below = offset_copy(ax.transData, fig=ax.figure, y=-LABEL_PAD_POINTS, units="points")
    colors = colors or ["black"] * n
    panels = []
    for i, ((y0, x0), label, color) in enumerate(zip(places, labels, colors)):
        x = x0 - 0.5 + tw / 2
        text = ax.text(x, y0 - 0.5, label, transform=above, ha="center", va="bottom", fontsize=fontsize, color=color)
        caption = None
        if captions:
            caption = ax.text(x, y0 + th - 0.5, captions[i], transform=below, ha="center", va="top", fontsize=fontsize)
        panels.append(Panel(text, image, slice(y0, y0 + th, f), slice(x0, x0 + tw, f), caption))
    setattr(ax.figure, ATTRIBUTE, grid_panels(ax.figure) + panels)
    return panels
