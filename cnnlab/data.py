"""Datasets: find and read them, split them, and feed them through tf.data.

Every source yields the same ``Dataset``: uint8 images (N, H, W, C) and int labels.
Images stay uint8 until they are inside the model (a Rescaling layer), so memory
stays small and a saved model takes raw pixels.
"""

from __future__ import annotations

import gzip
import os
import struct
import sys
from dataclasses import dataclass
from pathlib import Path

import numpy as np

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
IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
DEFAULT_DIRECTORY_IMAGE_SIZE = (128, 128)


@dataclass
class Dataset:
    class_names: list[str]
    x_train: np.ndarray  # (N, H, W, C) uint8
    y_train: np.ndarray  # (N,) int64
    x_val: np.ndarray
    y_val: np.ndarray
    x_test: np.ndarray
    y_test: np.ndarray

    @property
    def input_shape(self) -> tuple[int, int, int]:
        return tuple(self.x_train.shape[1:])

    @property
    def num_classes(self) -> int:
        return len(self.class_names)


def load_dataset(data_cfg, seed: int) -> Dataset:
    """Read the configured source, then split train/validation with a seeded shuffle."""
    if data_cfg.source in IDX_SOURCES:
        (x_train, y_train), (x_test, y_test), class_names = load_idx_source(data_cfg.source, data_cfg.path)
    elif data_cfg.source == "npz":
        (x_train, y_train), (x_test, y_test), class_names = load_npz(data_cfg.path)
    else:
        (x_train, y_train), (x_test, y_test), class_names = load_directory(data_cfg, seed)
    if data_cfg.class_names:
        if len(data_cfg.class_names) != len(class_names):
            raise DataError(
                f"data.class_names has {len(data_cfg.class_names)} names but the data has "
                f"{len(class_names)} classes; list one name per class"
            )
        class_names = list(data_cfg.class_names)
    x_train, x_test = (adapt_images(x, data_cfg.image_size, data_cfg.color_mode) for x in (x_train, x_test))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_train))
    if data_cfg.limit:
        order = order[: data_cfg.limit]
        test_order = rng.permutation(len(x_test))[: data_cfg.limit]
        x_test, y_test = x_test[test_order], y_test[test_order]
    n_val = int(round(len(order) * data_cfg.validation_split))
    train_idx, val_idx = order[n_val:], order[:n_val]
    if len(train_idx) == 0:
        raise DataError("no training images left after the validation split; lower data.validation_split")
    return Dataset(
        class_names=list(class_names),
        x_train=x_train[train_idx], y_train=y_train[train_idx],
        x_val=x_train[val_idx], y_val=y_train[val_idx],
        x_test=x_test, y_test=y_test,
    )  # fmt: skip


# ---------------------------------------------------------------- IDX (MNIST family)


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
        out.append((read_idx(directory / images_file)[..., None], read_idx(directory / labels_file).astype(np.int64)))
    return out


def read_idx(path: Path) -> np.ndarray:
    """Read an IDX file (the original MNIST format), gzipped or not."""
    opener = gzip.open if path.suffix == ".gz" else open
    try:
        with opener(path, "rb") as f:
            raw = f.read()
        zero, dtype_code, ndim = struct.unpack(">HBB", raw[:4])
        if zero != 0 or dtype_code != 0x08:
            raise ValueError("not an unsigned-byte IDX file")
        shape = struct.unpack(f">{ndim}I", raw[4 : 4 + 4 * ndim])
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
    from cnnlab.backend import keras

    print(f"{source} not found locally; downloading with keras.datasets.{keras_module} ...", file=sys.stderr)
    try:
        (x_train, y_train), (x_test, y_test) = getattr(keras().datasets, keras_module).load_data()
    except Exception as exc:
        raise DataError(
            f"{source} not found (looked in {places}) and the Keras download failed "
            f"({type(exc).__name__}); {how}, set CNNLAB_DATA_DIR, or connect to the internet"
        ) from None
    return (x_train[..., None], y_train.astype(np.int64)), (x_test[..., None], y_test.astype(np.int64))


# ---------------------------------------------------------------- npz


def load_npz(path: str):
    file = Path(path).expanduser()
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
    return (xs[0], ys[0]), (xs[1], ys[1]), [str(i) for i in range(num_classes)]


def _as_nhwc_uint8(x: np.ndarray, where: str) -> np.ndarray:
    if x.ndim == 3:
        x = x[..., None]
    if x.ndim != 4 or x.shape[-1] not in (1, 3):
        raise DataError(f"{where} has shape {x.shape}; expected (N, H, W) or (N, H, W, 1|3)")
    if x.dtype != np.uint8:
        # Float images in [0, 1] are scaled up; the model rescales by 1/255 itself.
        x = np.clip(x * 255.0 if x.max() <= 1.0 else x, 0, 255).round().astype(np.uint8)
    return x


# ---------------------------------------------------------------- image folders


def load_directory(data_cfg, seed: int):
    """One sub-folder per class. If the folder has train/ and test/, those are the splits;
    otherwise a seeded 20 % of each class is held out as the test split."""
    root = Path(data_cfg.path).expanduser()
    if not root.is_dir():
        raise DataError(f"data.path {str(root)!r} is not a folder; it should hold one sub-folder per class")
    size = tuple(data_cfg.image_size or DEFAULT_DIRECTORY_IMAGE_SIZE)
    mode = "L" if data_cfg.color_mode == "grayscale" else "RGB"
    if (root / "train").is_dir() and (root / "test").is_dir():
        x_train, y_train, classes = read_image_folder(root / "train", size, mode)
        x_test, y_test, test_classes = read_image_folder(root / "test", size, mode)
        if test_classes != classes:
            raise DataError(f"{root}/test has classes {test_classes} but {root}/train has {classes}; make them match")
        return (x_train, y_train), (x_test, y_test), classes
    x, y, classes = read_image_folder(root, size, mode)
    test_mask = np.zeros(len(y), bool)
    rng = np.random.default_rng(seed)
    for c in range(len(classes)):  # stratified, so every class is in the test split
        idx = np.flatnonzero(y == c)
        test_mask[rng.permutation(idx)[: max(1, len(idx) // 5)]] = True
    return (x[~test_mask], y[~test_mask]), (x[test_mask], y[test_mask]), classes


def read_image_folder(root: Path, size: tuple[int, int], mode: str):
    from PIL import Image

    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root} has no class sub-folders; put each class's images in a folder of its own")
    images, labels, skipped = [], [], []
    for label, name in enumerate(classes):
        count = 0
        for file in sorted((root / name).iterdir()):
            if file.name.startswith(".") or not file.is_file():
                continue  # .DS_Store and friends are not worth a warning
            try:
                with Image.open(file) as img:
                    img = img.convert(mode).resize((size[1], size[0]), Image.BILINEAR)
                    array = np.asarray(img, dtype=np.uint8)
            except Exception:
                skipped.append(file)
                continue
            images.append(array if array.ndim == 3 else array[..., None])
            labels.append(label)
            count += 1
        if count == 0:
            raise DataError(f"class folder {root / name} holds no readable images; add PNG/JPEG files or remove it")
    if skipped:
        names = ", ".join(f.name for f in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        print(f"Warning: skipped {len(skipped)} unreadable or non-image file(s) under {root}: {names}", file=sys.stderr)
    return np.stack(images), np.array(labels, np.int64), classes


# ---------------------------------------------------------------- shape adaptation


def adapt_images(x: np.ndarray, image_size, color_mode) -> np.ndarray:
    """Resize and convert channels, keeping uint8."""
    if color_mode == "rgb" and x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    elif color_mode == "grayscale" and x.shape[-1] == 3:
        x = (x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
        x = x.round().astype(np.uint8)
    if image_size and tuple(image_size) != x.shape[1:3]:
        from cnnlab.backend import tf

        resized = tf().image.resize(x, tuple(image_size), method="bilinear").numpy()
        x = np.clip(resized, 0, 255).round().astype(np.uint8)
    return x


# ---------------------------------------------------------------- tf.data


def make_pipeline(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool, seed: int, one_hot: int = 0):
    """Batches of (uint8 images, labels). Shuffles indices and gathers whole batches:
    one vectorised op per batch instead of per image, so the input pipeline stays far
    ahead of a CPU's training step."""
    from cnnlab.backend import tf as _tf

    tf = _tf()
    images, labels = tf.constant(x), tf.constant(y)
    ds = tf.data.Dataset.range(len(x))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def gather(idx):
        batch_y = tf.gather(labels, idx)
        if one_hot:
            batch_y = tf.one_hot(batch_y, one_hot)
        return tf.gather(images, idx), batch_y

    return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
