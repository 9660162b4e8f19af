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
    xs = [_as_nhwc_uint8(arrays[k], f"{file}:{k}") for k in ("x_train", "x_test")]
    ys = [arrays[k].astype(np.int64).reshape(-1) for k in ("y_train", "y_test")]
    num_classes = int(max(ys[0].max(), ys[1].max())) + 1
    return RawData((xs[0], ys[0]), (xs[1], ys[1]), [str(i) for i in range(num_classes)])


def _as_nhwc_uint8(x: np.ndarray, where: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(f"{where} has shape {x.shape}; expected (N, H, W) or (N, H, W, 1|3)")
    if x.dtype != np.uint8:
        # Float images in [0, 1] are scaled up; the model rescales by 1/255 itself.
        x = np.clip(x * 255.0 if x.max() <= 1.0 else x, 0, 255).round().astype(np.uint8)
    return x
