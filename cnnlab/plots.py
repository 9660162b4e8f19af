"""Standard run plots. Pure: arrays in, matplotlib Figure out (Agg backend, never shown)."""

from __future__ import annotations

import math
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cnnlab.errors import plot_label, printable  # noqa: E402
from cnnlab.mosaic import GAP_X, draw_mosaic, stretch_each  # noqa: E402

# Class and layer names come from users' files (emoji, CJK): the font draws a box for a
# missing glyph, which is fine; the warning per glyph on the terminal is not.
warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from", category=UserWarning)


def plot_confusion_matrix(cm: np.ndarray, class_names: list[str]):
    """Counts, with rows = true class and columns = predicted class."""
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.8 + 0.55 * n))
    ax.imshow(cm, cmap="Blues")
    labels = [plot_label(name) for name in class_names]  # names from disk: no mathtext, no surrogates
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > threshold else "black")  # fmt: skip
    ax.set_title(f"confusion matrix (accuracy {np.trace(cm) / max(cm.sum(), 1):.3f})")
    fig.tight_layout()
    return fig


TILE_INCHES = 1.3  # an image of image_grid on the page
LINE_INCHES = 7 * 1.3 / 72  # a 7-point line of a title or caption


def image_grid(images: list[np.ndarray], titles: list[str], ncols: int | None = None, suptitle: str = "",
               captions: list[str] | None = None):  # fmt: skip
    """Images (H, W, 1|3, uint8 or float; all one size) in a grid, ``ncols`` wide or near
    square, with a title each (and a caption under each, when given). One image in one
    Axes (cnnlab.mosaic), laid out in inches: the page is the grid plus its texts.
    A title's line breaks are kept: callers pass names from disk through errors.printable."""
    # no images (a run without mistakes): an empty grid of one blank tile
    tiles = np.stack([np.asarray(img) for img in images]) if len(images) else np.zeros((1, 28, 28, 1), np.uint8)
    titles = ["\n".join(map(plot_label, t.split("\n"))) for t in titles] or [""]  # no mathtext from names
    n, h, w = tiles.shape[:3]
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    if tiles.shape[-1] == 1:  # each grey image on its own min..max, as imshow scales one image
        shown, style = stretch_each(tiles[..., 0]), {"cmap": "gray", "vmin": 0, "vmax": 1}
    else:
        shown, style = (tiles / 255.0 if tiles.dtype == np.uint8 else np.clip(tiles, 0, 1)), {}
    per_pixel = TILE_INCHES / max(h, w)  # inches
    tile_h, tile_w = h * per_pixel, w * per_pixel
    title_in = max(t.count("\n") + 1 for t in titles) * LINE_INCHES + 0.05
    caption_in = LINE_INCHES + 0.05 if captions else 0.0
    gap_in = title_in + caption_in + 0.08
    top_in = title_in + (0.45 if suptitle else 0.1)
    grid_w = ncols * tile_w + (ncols - 1) * GAP_X * tile_w
    grid_h = nrows * tile_h + (nrows - 1) * gap_in
    width, height = grid_w + 0.3, top_in + grid_h + caption_in + 0.1
    fig = plt.figure(figsize=(width, height))
    ax = fig.add_axes((0.15 / width, (caption_in + 0.1) / height, grid_w / width, grid_h / height))
    if len(images):
        draw_mosaic(ax, shown, titles, cols=ncols, captions=captions, gap_y=gap_in / tile_h, frames=False, **style)
    ax.set_axis_off()
    if suptitle:
        fig.suptitle(suptitle, y=1 - 0.08 / height, va="top")
    return fig


def plot_misclassified(x, y_true, y_pred, probs, class_names, limit: int = 25):
    """The most confidently wrong test images, with true and predicted labels above each
    and its test index under it (cnnlab visualize --index N looks at it again)."""
    wrong = np.flatnonzero(y_true != y_pred)
    wrong = wrong[np.argsort(-probs[wrong, y_pred[wrong]], kind="stable")][:limit]
    names = [printable(name) for name in class_names]  # a name's own line break stays escaped
    titles = [f"true: {names[y_true[i]]}\npred: {names[y_pred[i]]} ({probs[i, y_pred[i]]:.2f})" for i in wrong]
    total = int((y_true != y_pred).sum())
    return image_grid([x[i] for i in wrong], titles, captions=[f"test #{i}" for i in wrong],
                      suptitle=f"misclassified: {len(wrong)} of {total} shown (test index under each)")
