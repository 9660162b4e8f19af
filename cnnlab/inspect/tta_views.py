"""Test-time views, as in airbench: a model that trained on mirrored and shifted images also
predicts each test image mirrored and moved one pixel, and the probability vectors of all
these views are averaged. Deterministic; the evaluation measures it beside the plain
accuracy (metrics.json ``test_accuracy_tta``, and ``tta_views`` naming the views).

Only the views a model trained on: fashion.yaml's model, trained without flips, gets 0.91
of the test images right but 0.67 of their mirrors. ``cnnlab evaluate --tta N`` (tta.py) is
the other kind: N random draws of the whole augmentation block."""

from __future__ import annotations

from typing import NamedTuple

import numpy as np

# metrics.json: the test accuracy averaged over the views (test_accuracy stays the plain single
# pass) and the views' names, "as is" first; defined with their reader, which old runs need too
from cnnlab.runs.read import TTA_KEY, VIEWS_KEY, tta_result

__all__ = ["TTA_KEY", "VIEWS_KEY", "AUGMENTATION_BLOCK", "View", "flips_horizontally", "trained_views", "shown",
           "tta_text", "views_phrase"]  # fmt: skip
# cnnlab.model.augment.BLOCK_NAME, spelled here (and used by tta.py) to keep TensorFlow out of import time
AUGMENTATION_BLOCK = "augmentation"


# training's fill_mode (RandomAffine, as Keras) -> numpy.pad's mode doing the same for a 1-pixel
# shift: Keras's "reflect" (d c b a | a b c d) repeats the edge pixel, as "symmetric" does
PAD_MODES = {"constant": "constant", "nearest": "edge", "reflect": "symmetric", "wrap": "wrap"}


class View(NamedTuple):
    """An image moved ``down`` and ``right`` pixels (-1, 0 or 1), then mirrored or not; the
    row or column a move uncovers is filled as training's shifts filled it."""

    down: int = 0
    right: int = 0
    mirror: bool = False
    fill_mode: str = "nearest"
    fill_value: float = 0.0

    @property
    def name(self) -> str:
        moves = {(-1, 0): "up 1 px", (1, 0): "down 1 px", (0, -1): "left 1 px", (0, 1): "right 1 px"}
        parts = [moves[(self.down, self.right)]] if (self.down, self.right) != (0, 0) else []
        return ", ".join(parts + ["mirrored"] * self.mirror) or "as is"


def _block_layers(model) -> list:
    try:
        return list(getattr(model.get_layer(AUGMENTATION_BLOCK), "layers", []))
    except ValueError:
        return []


def flips_horizontally(model) -> bool:
    """Whether the model's augmentation block mirrors images left-right while it trains."""
    return any("horizontal" in str(getattr(layer, "mode", "")) for layer in _block_layers(model))


def _shifters(model, attribute: str) -> list:
    # cnnlab's RandomAffine: width_shift_range / height_shift_range, a fraction or pixels
    return [layer for layer in _block_layers(model) if float(getattr(layer, attribute, 0) or 0) > 0]


def trained_views(model) -> list[View]:
    """The views of a test image that the model saw in training, "as is" first: mirrored if it
    trained with horizontal flips, one pixel up/down and left/right along the axes it trained
    shifted on, each shift mirrored too. [] when there is nothing besides "as is"."""
    moves, vertical, horizontal = [(0, 0)], _shifters(model, "height_shift_range"), _shifters(model, "width_shift_range")
    if vertical:
        moves += [(-1, 0), (1, 0)]
    if horizontal:
        moves += [(0, -1), (0, 1)]
    shifter = (vertical + horizontal + [None])[0]
    fill = (getattr(shifter, "fill_mode", "nearest"), float(getattr(shifter, "fill_value", 0.0))) if shifter else ()
    fill = fill if fill and fill[0] in PAD_MODES else ()
    mirrors = (False, True) if flips_horizontally(model) else (False,)
    views = [View(down, right, mirror, *fill) for down, right in moves for mirror in mirrors]
    return views if len(views) > 1 else []


def shown(images: np.ndarray, view: View) -> np.ndarray:
    """(N, H, W, C) images as ``view`` shows them."""
    out = images
    if view.down or view.right:
        height, width = images.shape[1:3]
        widths, mode = ((0, 0), (1, 1), (1, 1), (0, 0)), PAD_MODES[view.fill_mode]
        extra = {"constant_values": view.fill_value} if mode == "constant" else {}
        padded = np.pad(images, widths, mode=mode, **extra)
        out = padded[:, 1 - view.down : 1 - view.down + height, 1 - view.right : 1 - view.right + width]
    if view.mirror:
        out = out[:, :, ::-1]
    return np.ascontiguousarray(out)


def tta_text(metrics: dict) -> str:
    """'; 0.9403 with TTA (the mean over 10 views: ...)' to follow the test accuracy, when
    the evaluation measured it."""
    result = tta_result(metrics)
    if result is None:
        return ""  # absent, or a hand-edited metrics.json
    value, views = result
    return f"; {value:.4f} with TTA (the mean over {len(views)} views: {views_phrase(views)})"


def views_phrase(names: list[str]) -> str:
    """What the named views are, in a few words."""
    shifted, mirrored = any(" px" in n for n in names), any("mirrored" in n for n in names)
    return {
        (True, True): "the image, its 1-pixel shifts and the mirrors of these",
        (True, False): "the image and its 1-pixel shifts",
        (False, True): "the image and its mirror",
        (False, False): "the image",
    }[(shifted, mirrored)]
