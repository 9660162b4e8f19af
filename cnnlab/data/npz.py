"""A NumPy .npz dataset: arrays x_train, y_train, x_test, y_test (no pickles)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.data.splits import RawData
from cnnlab.errors import DataError



def load_npz(data_cfg, seed: int) -> RawData:
    file = Path(data_cfg.path).expanduser()
    if not file.is_file():
        raise DataError(f"data.path {str(file)!r} does not exist; point it at an .npz with x_train, y_train, x_test, y_test")
    try:
        with np.load(file, allow_pickle=False) as f:
            missing = [k for k in ("x_train", "y_train", "x_test", "y_test") if k not in f.files]
            if missing:
                raise DataError(f"{file} lacks {', '.join(missing)}; an npz dataset needs x_train, y_train, x_test, y_test")
            arrays = {k: f[k] for k in ("x_train", "y_train", "x_test", "y_test")}
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"cannot read {file} as .npz ({exc}); save it with numpy.savez") from None
    xs = [_as_nhwc_uint8(arrays[k], f"{file}: {k}") for k in ("x_train", "x_test")]
    ys = [_labels(arrays[k], f"{file}: {k}") for k in ("y_train", "y_test")]
    for x, y, split in zip(xs, ys, ("train", "test")):
        if len(x) != len(y):
            raise DataError(f"{file}: x_{split} has {len(x)} images but y_{split} has {len(y)} labels; save one label per image")
        if len(x) == 0:
            raise DataError(f"{file}: x_{split} holds no images; save at least one {split} image with its label")
    num_classes = int(max(ys[0].max(), ys[1].max())) + 1
    for k in ("y_train", "y_test"):  # one-hot labels: their width is the number of classes
        if arrays[k].ndim == 2 and arrays[k].shape[1] > 1:
            num_classes = max(num_classes, arrays[k].shape[1])
    return RawData((xs[0], ys[0]), (xs[1], ys[1]), [str(i) for i in range(num_classes)])


def _labels(y: np.ndarray, where: str) -> np.ndarray:
    """Class numbers 0..K-1 as int64 (N,). One-hot rows (N, K) are accepted and turned into
    class numbers; anything else that is not a whole, non-negative number is refused."""
    if y.ndim == 2 and y.shape[1] > 1:
        if not (np.isin(y, (0, 1)).all() and (y.sum(axis=1) == 1).all()):
            raise DataError(f"{where} has shape {y.shape} but its rows are not one-hot; save class numbers 0..K-1 of shape (N,)")
        return y.argmax(axis=1).astype(np.int64)
    if y.ndim > 1 and y.size != len(y):
        raise DataError(f"{where} has shape {y.shape}; save class numbers of shape (N,) or one-hot rows (N, K)")
    y = y.reshape(-1)
    if y.dtype.kind not in "iub" and (y.dtype.kind != "f" or not np.isfinite(y).all() or (y != np.round(y)).any()):
        raise DataError(f"{where} holds {y.dtype} values that are not whole numbers; save class numbers 0..K-1 as integers")
    y = y.astype(np.int64)
    if len(y) and y.min() < 0:
        raise DataError(f"{where} holds negative labels (smallest {y.min()}); labels are class numbers 0..K-1")
    return y


def _as_nhwc_uint8(x: np.ndarray, where: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(f"{where} has shape {x.shape}; expected (N, H, W) or (N, H, W, 1|3)")
    if x.dtype.kind not in "uif" and x.dtype != np.bool_:
        raise DataError(f"{where} holds {x.dtype} values; save images as uint8 0..255 or floats 0..1")
    if x.dtype.kind == "f" and x.size and not np.isfinite(x).all():
        bad = int(np.count_nonzero(~np.isfinite(x)))
        raise DataError(f"{where} holds {bad} NaN or infinite pixel values; replace them (e.g. numpy.nan_to_num) and save again")
    if x.dtype != np.uint8:
        # Float images in [0, 1] are scaled up; the model rescales by 1/255 itself.
        scale = x.dtype.kind == "f" and x.size and x.max() <= 1.0
        x = np.clip(x * 255.0 if scale else x, 0, 255).round().astype(np.uint8)
    return x
