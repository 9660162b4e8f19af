"""A user's photo as model input: fit it to the model's size, and compare its background
with the training images' before predicting.

Fashion-MNIST items are light on a black background. A product photo is usually a dark
item on white: fed as it is, the model sees a white square with a dark hole and answers
"Bag 1.000" with full confidence. The cheap check: the mean of the image's border pixels
(its background) against the same mean over the training images. When one is light and
the other dark, say so in one line, and with ``--invert auto`` invert the photo."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.data.images import load_image
from cnnlab.errors import DataError

FITS = ("stretch", "pad", "crop")
INVERTS = ("auto", "yes", "no")
BORDER = 2  # pixels of each edge that count as background
MIDDLE = 127.5  # a background above this is light, below it dark
REFERENCE_IMAGES = 256  # training images the reference background is measured on


def background(images: np.ndarray) -> float:
    """Mean of the BORDER-pixel frame of (H, W, C) or (N, H, W, C) uint8 images, 0..255."""
    images = np.asarray(images, dtype=np.float64)
    if images.ndim == 3:
        images = images[None]
    return float(images[:, _frame(*images.shape[1:3])].mean())


def reference_background(x_train) -> float:
    """The training images' background, measured on the first REFERENCE_IMAGES of them."""
    return background(np.asarray(x_train[:REFERENCE_IMAGES]))


def fit_image(pixels: np.ndarray, height: int, width: int, fit: str) -> np.ndarray:
    """(h, w, C) uint8 of any size -> (height, width, C): stretched, padded or cropped."""
    from PIL import Image

    if fit not in FITS:
        raise DataError(f"--fit {fit!r}: expected one of {', '.join(FITS)}")
    h, w, c = pixels.shape
    if fit == "pad" and h * width != w * height:
        fill = np.median(pixels[_frame(h, w)], axis=0).astype(np.uint8)  # its own background colour
        if w * height > h * width:  # wider than the model's input: pad above and below
            new_h, new_w = round(w * height / width), w
        else:
            new_h, new_w = h, round(h * width / height)
        canvas = np.empty((new_h, new_w, c), np.uint8)
        canvas[:] = fill
        top, left = (new_h - h) // 2, (new_w - w) // 2
        canvas[top : top + h, left : left + w] = pixels
        pixels = canvas
    elif fit == "crop" and h * width != w * height:
        if w * height > h * width:  # too wide: keep the middle columns
            keep = max(1, round(h * width / height))
            left = (w - keep) // 2
            pixels = pixels[:, left : left + keep]
        else:
            keep = max(1, round(w * height / width))
            top = (h - keep) // 2
            pixels = pixels[top : top + keep]
    img = Image.fromarray(pixels[..., 0] if c == 1 else pixels)
    out = np.asarray(img.resize((width, height), Image.BILINEAR), dtype=np.uint8)
    return out[..., None] if out.ndim == 2 else out


def _frame(h: int, w: int) -> np.ndarray:
    """(h, w) bool: True on the BORDER-pixel frame."""
    b = min(BORDER, h // 2, w // 2) or 1
    frame = np.ones((h, w), bool)
    frame[b:-b, b:-b] = False
    return frame


@dataclass
class Photo:
    pixels: np.ndarray  # (H, W, C) uint8, what the model gets
    note: str  # one line for the user, or "" when there is nothing to say
    inverted: bool


def read_photo(path: str | Path, height: int, width: int, channels: int, *, fit: str = "stretch",
               invert: str = "auto", reference: float | None = None) -> Photo:  # fmt: skip
    """Read, fit and (maybe) invert one photo. ``reference``: the training images'
    background (reference_background), or None when unknown (then auto inverts nothing)."""
    if invert not in INVERTS:
        raise DataError(f"--invert {invert!r}: expected one of {', '.join(INVERTS)}")
    if fit == "stretch":
        pixels = load_image(path, height, width, channels)
    else:
        pixels = fit_image(load_image_unresized(path, channels), height, width, fit)
    name = Path(path).name
    own = background(pixels)
    opposite = reference is not None and (own > MIDDLE) != (reference > MIDDLE)
    shade = lambda level: "light" if level > MIDDLE else "dark"  # noqa: E731
    facts = (f"{name}: its background is {shade(own)} (border mean {own:.0f}) but the training images' is "
             f"{shade(reference)} ({reference:.0f})") if opposite else ""  # fmt: skip
    if invert == "yes" or (invert == "auto" and opposite):
        why = f"{facts}: inverted it (--invert no keeps it)" if opposite else ""  # --invert yes: as asked
        return Photo((255 - pixels).astype(np.uint8), why, True)
    if opposite:  # --invert no
        return Photo(pixels, f"{facts}: predictions may be wrong; --invert auto inverts it", False)
    return Photo(pixels, "", False)


def load_image_unresized(path: str | Path, channels: int) -> np.ndarray:
    """(h, w, C) uint8 at the file's own size, with load_image's checks and messages."""
    from cnnlab.data.images import decode_image

    path = Path(path)
    load_image(path, 1, 1, channels)  # a folder, a missing or unreadable file: the same one-line errors
    return decode_image(path, "L" if channels == 1 else "RGB", None)
