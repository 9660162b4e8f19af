"""The MNIST family in its original IDX files (Fashion-MNIST, MNIST): found locally
(data.path, $CNNLAB_DATA_DIR, the Keras cache, Debian's dataset packages) or
downloaded with keras.datasets."""

from __future__ import annotations

import gzip
import os
import struct
import sys
from pathlib import Path

import numpy as np

from cnnlab.data.splits import RawData
from cnnlab.errors import DataError

FASHION_MNIST_CLASSES = [
    "T-shirt/top", "Trouser", "Pullover", "Dress", "Coat",
    "Sandal", "Shirt", "Sneaker", "Bag", "Ankle boot",
]  # fmt: skip
MNIST_CLASSES = [str(d) for d in range(10)]

IDX_FILES = {
    "train": ("train-images-idx3-ubyte.gz", "train-labels-idx1-ubyte.gz"),
    "test": ("t10k-images-idx3-ubyte.gz", "t10k-labels-idx1-ubyte.gz"),
}
# source -> (folder name used by Keras and Debian, class names, keras.datasets module)
IDX_SOURCES = {
    "fashion_mnist": ("fashion-mnist", FASHION_MNIST_CLASSES, "fashion_mnist"),
    "mnist": ("mnist", MNIST_CLASSES, "mnist"),
}


def load_fashion_mnist(data_cfg, seed: int) -> RawData:
    return RawData(*load_idx_source("fashion_mnist", data_cfg.path))


def load_mnist(data_cfg, seed: int) -> RawData:
    return RawData(*load_idx_source("mnist", data_cfg.path))



def idx_search_dirs(source: str) -> list[Path]:
    """Where to look when data.path is not set, in order: $CNNLAB_DATA_DIR, the Keras cache, Debian's package."""
    folder = IDX_SOURCES[source][0]
    dirs = []
    if os.environ.get("CNNLAB_DATA_DIR"):
        root = Path(os.environ["CNNLAB_DATA_DIR"]).expanduser()
        dirs += [root / folder, root]
    dirs += [Path("~/.keras/datasets").expanduser() / folder, Path("/usr/share/datasets") / folder]
    return dirs


def load_idx_source(source: str, explicit: str | None):
    folder, class_names, keras_module = IDX_SOURCES[source]
    if explicit:  # an explicit path must hold the files: no silent fallback elsewhere
        directory = Path(explicit).expanduser()
        if not _has_idx_files(directory):
            raise DataError(
                f"data.path {str(directory)!r} does not hold the {folder} IDX files "
                f"({', '.join(IDX_FILES['train'] + IDX_FILES['test'])}); fix the path or remove data.path"
            )
        return (*_read_idx_pair(directory), class_names)
    tried = idx_search_dirs(source)
    for directory in tried:
        if _has_idx_files(directory):
            return (*_read_idx_pair(directory), class_names)
    keras_npz = Path("~/.keras/datasets").expanduser() / f"{source}.npz"  # Keras's own MNIST cache
    if keras_npz.is_file():
        return (*_read_keras_npz(keras_npz), class_names)
    return (*_download_with_keras(source, keras_module, tried), class_names)


def _has_idx_files(directory: Path) -> bool:
    return all((directory / f).is_file() for pair in IDX_FILES.values() for f in pair)


def _read_idx_pair(directory: Path):
    out = []
    for split in ("train", "test"):
        images_file, labels_file = IDX_FILES[split]
        images, labels = read_idx(directory / images_file), read_idx(directory / labels_file)
        if images.ndim != 3 or labels.ndim != 1:
            raise DataError(f"{directory / images_file} and {labels_file} are not an image/label IDX pair "
                            f"(shapes {images.shape}, {labels.shape}); re-download or reinstall the dataset")  # fmt: skip
        if len(images) != len(labels):
            raise DataError(f"{directory / labels_file} has {len(labels)} labels but {images_file} has "
                            f"{len(images)} images; re-download or reinstall the dataset")  # fmt: skip
        out.append((images[..., None], labels.astype(np.int64)))
    return out


_READ: dict[tuple, np.ndarray] = {}  # (path, inode, size, mtime) -> the array read
_READ_KEPT = 8  # the train/test image and label files of MNIST and Fashion-MNIST


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the original MNIST format), gzipped or not. The arrays are
    read-only, so one process shares them: `cnnlab train` reads the test split again for
    the report's pictures, and unzipping Fashion-MNIST costs a quarter of a second."""
    try:
        stat = os.stat(path)
        key = (os.path.abspath(path), stat.st_ino, stat.st_size, stat.st_mtime_ns)
    except OSError:
        key = None  # _read_idx says what is wrong
    if key in _READ:
        return _READ[key]
    array = _read_idx(Path(path))
    if key is not None:
        if len(_READ) >= _READ_KEPT:
            _READ.pop(next(iter(_READ)))  # the oldest
        _READ[key] = array
    return array


def _read_idx(path: Path) -> np.ndarray:
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
        if int(np.prod(shape, dtype=np.int64)) != len(raw) - 4 - 4 * ndim:
            raise ValueError(f"its header promises {'x'.join(map(str, shape))} bytes but it holds "
                             f"{len(raw) - 4 - 4 * ndim} (truncated or damaged)")  # fmt: skip
        return np.frombuffer(raw, dtype=np.uint8, offset=4 + 4 * ndim).reshape(shape)
    except (OSError, ValueError, struct.error, EOFError) as exc:
        raise DataError(f"cannot read {path}: {exc}; re-download or reinstall the dataset") from None


def _read_keras_npz(path: Path):
    with np.load(path) as f:
        return (f["x_train"][..., None], f["y_train"].astype(np.int64)), (
            f["x_test"][..., None],
            f["y_test"].astype(np.int64),
        )


def _download_with_keras(source: str, keras_module: str, tried: list[Path]):
    places = ", ".join(str(p) for p in tried)
    how = (
        "install it with 'apt-get install dataset-fashion-mnist'"
        if source == "fashion_mnist"
        else "put the IDX .gz files in one of those folders"
    )
    if os.environ.get("CNNLAB_OFFLINE"):
        raise DataError(f"{source} not found (looked in {places}; download disabled by CNNLAB_OFFLINE); {how}")
    from cnnlab.backend import keras  # only here: reading local files needs no TensorFlow

    print(f"{source} not found locally; downloading with keras.datasets.{keras_module} ...", file=sys.stderr)
    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras().datasets, keras_module).load_data()
    except Exception as exc:
        raise DataError(
            f"{source} not found (looked in {places}) and the Keras download failed "
            f"({type(exc).__name__}); {how}, set CNNLAB_DATA_DIR, or connect to the internet"
        ) from None
    return (x_train[..., None], y_train.astype(np.int64)), (x_test[..., None], y_test.astype(np.int64))
