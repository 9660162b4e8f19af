"""Read user image files (PNG/JPEG of any size and colour) as model input."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.errors import DataError


def load_image(path: str | Path, height: int, width: int, channels: int) -> np.ndarray:
    """-> (height, width, channels) uint8, converted the way the training data was."""
    from PIL import Image, UnidentifiedImageError

    path = Path(path)
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a folder, not an image; pass PNG or JPEG files")
    if not path.is_file():
        raise DataError(f"image {str(path)!r} does not exist; pass a PNG or JPEG file")
    try:
        with Image.open(path) as img:
            img = img.convert("L" if channels == 1 else "RGB").resize((width, height), Image.BILINEAR)
            array = np.asarray(img, dtype=np.uint8)
    except (UnidentifiedImageError, OSError, ValueError) as exc:
        reason = "not an image file" if isinstance(exc, UnidentifiedImageError) else f"unreadable ({exc})"
        raise DataError(f"cannot read image {str(path)!r}: {reason}; pass a PNG or JPEG file") from None
    return array[..., None] if array.ndim == 2 else array


def model_image_shape(model) -> tuple[int, int, int]:
    h, w, c = (int(d) for d in model.input_shape[1:])
    return h, w, c
