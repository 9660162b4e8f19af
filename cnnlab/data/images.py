"""Read user image files (PNG/JPEG of any size and colour) as model input.

`decode_image` is the ONE place an image file becomes pixels: predict, visualize and
image-folder training all read through it, so a 16-bit PNG, a phone photo with an EXIF
rotation or a decompression bomb are handled the same way everywhere."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np

from cnnlab.errors import DataError

# The decompression-bomb guard, for truly absurd sizes only: a 108-megapixel phone photo or
# a 10000x10000 scan must decode. 2**28 = 16384x16384; PIL's own limits are raised to match
# (it warns above MAX_IMAGE_PIXELS and refuses above twice that) and its warning silenced.
MAX_PIXELS = 2**28


def decode_image(path: str | Path, mode: str, size: tuple[int, int] | None) -> np.ndarray:
    """-> (H, W, C) uint8 in PIL `mode` ("L" or "RGB"), resized to size=(height, width)
    unless size is None. Raises DataError with a one-line reason (no file name: callers
    know how to name the file)."""
    from PIL import Image, ImageOps, UnidentifiedImageError

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", Image.DecompressionBombWarning)
            allow_large_images()
            with Image.open(path) as img:
                if img.width * img.height > MAX_PIXELS:
                    raise DataError(
                        f"too large ({img.width}x{img.height} pixels, over {MAX_PIXELS:,}; "
                        "possibly a decompression bomb)")
                img = _reduced(img, size)
                img = ImageOps.exif_transpose(img)  # phone photos: stored sideways, tagged upright
                img = _to_8_bit(img)
                img = img.convert(mode)
                if size is not None:
                    img = img.resize((int(size[1]), int(size[0])), Image.BILINEAR)
                array = np.asarray(img, dtype=np.uint8)
    except DataError:
        raise
    except UnidentifiedImageError:
        raise DataError("not an image file") from None
    except Image.DecompressionBombError:
        raise DataError(f"too large (over {MAX_PIXELS:,} pixels; possibly a decompression bomb)") from None
    except (OSError, ValueError, SyntaxError, EOFError, MemoryError, IndexError, TypeError, KeyError) as exc:
        # PIL's plugins raise a zoo of exceptions for truncated or corrupted files
        text = " ".join(str(exc).split())[:120] or type(exc).__name__
        raise DataError(f"unreadable ({text})") from None
    return array[..., None] if array.ndim == 2 else array


def allow_large_images() -> None:
    """PIL's own bomb limits raised to MAX_PIXELS (for every PIL open: header checks too);
    its warning, only for what decode_image refuses anyway, silenced."""
    from PIL import Image

    if (Image.MAX_IMAGE_PIXELS or 0) < MAX_PIXELS:
        Image.MAX_IMAGE_PIXELS = MAX_PIXELS
        warnings.filterwarnings("ignore", category=Image.DecompressionBombWarning)


def _reduced(img, size):
    """A large photo decoded at a fraction of its size when the target ``size`` is much
    smaller: JPEG's DCT scaling (draft: 1/2, 1/4, 1/8 while decoding, never below twice the
    target), other formats by an integer box reduction right after decoding. Memory and time
    follow the target, not the megapixels."""
    if size is None:
        return img
    th, tw = int(size[0]), int(size[1])
    w, h = img.size
    if _sideways(img):
        th, tw = tw, th  # the EXIF rotation comes after: compare with the stored orientation
    if img.format == "JPEG" and img.mode in ("L", "RGB", "CMYK", "YCbCr"):
        img.draft(img.mode, (max(2 * tw, 1), max(2 * th, 1)))
        return img
    factor = min(w // max(2 * tw, 1), h // max(2 * th, 1))
    if factor >= 2 and img.mode in ("L", "RGB", "RGBA", "LA", "I", "F"):
        return img.reduce(factor)
    return img


def _sideways(img) -> bool:
    try:
        return img.getexif().get(0x0112) in (5, 6, 7, 8)  # EXIF orientations that swap width and height
    except Exception:  # noqa: BLE001  a damaged EXIF block: the transpose step ignores it too
        return False


def _to_8_bit(img):
    """16-bit and 32-bit integer images (PIL modes I;16*, I) scaled to 0..255 by their
    bit depth: PIL's own convert("L") clips every value above 255 to white."""
    from PIL import Image

    if img.mode.startswith("I;16") or img.mode == "I":
        array = np.asarray(img)
        if array.dtype.byteorder not in ("=", "|"):
            array = array.astype(array.dtype.newbyteorder("="))
        array = array.astype(np.int64)
        top = 65535 if img.mode.startswith("I;16") or array.max(initial=0) <= 65535 else 2**32 - 1
        return Image.fromarray((np.clip(array, 0, top) * 255 // top).astype(np.uint8), mode="L")
    if img.mode == "F":
        array = np.nan_to_num(np.asarray(img, dtype=np.float64))
        top = 1.0 if array.max(initial=0) <= 1.0 else 255.0
        return Image.fromarray((np.clip(array / top, 0, 1) * 255).round().astype(np.uint8), mode="L")
    return img


def load_image(path: str | Path, height: int, width: int, channels: int) -> np.ndarray:
    """-> (height, width, channels) uint8, converted the way the training data was."""
    path = Path(path)
    if path.is_dir():
        raise DataError(f"{str(path)!r} is a folder, not an image; pass PNG or JPEG files")
    if not path.is_file():
        raise DataError(f"image {str(path)!r} does not exist; pass a PNG or JPEG file")
    try:
        return decode_image(path, "L" if channels == 1 else "RGB", (height, width))
    except DataError as exc:
        raise DataError(f"cannot read image {str(path)!r}: {exc}; pass a PNG or JPEG file") from None


def model_image_shape(model) -> tuple[int, int, int]:
    h, w, c = (int(d) for d in model.input_shape[1:])
    return h, w, c
