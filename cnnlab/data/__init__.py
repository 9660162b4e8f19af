"""Datasets: find and read them, split them, and feed them through tf.data.

Every source is one loader with one signature, ``load(data_cfg, seed) -> RawData``,
registered by name in the fact sheet cnnlab.config.sources (which the config's
``data.source`` choices come from). Images stay uint8 until they are inside the model
(a Rescaling layer), so memory stays small and a saved model takes raw pixels.

    from cnnlab.data import load_dataset
    data = load_dataset(cfg.data, cfg.seed)   # Dataset: x_train, y_train, x_val, ...
"""

from __future__ import annotations

import importlib

import numpy as np

from cnnlab.config.sources import SOURCES
from cnnlab.data.files import FileSplit
from cnnlab.data.splits import Dataset, RawData
from cnnlab.errors import DataError

__all__ = ["Dataset", "FileSplit", "RawData", "adapt_images", "load_dataset", "source_loader"]


def source_loader(name: str):
    """The loader function registered for ``data.source: name``."""
    module, _, function = SOURCES[name].loader.partition(":")
    return getattr(importlib.import_module(module), function)


def load_dataset(data_cfg, seed: int) -> Dataset:
    """Read the configured source, then split train/validation with a seeded shuffle."""
    (x_train, y_train), (x_test, y_test), class_names = source_loader(data_cfg.source)(data_cfg, seed)
    if data_cfg.class_names:
        if len(data_cfg.class_names) != len(class_names):
            raise DataError(
                f"data.class_names has {len(data_cfg.class_names)} names but the data has "
                f"{len(class_names)} classes; list one name per class"
            )
        class_names = list(data_cfg.class_names)
    # Choose the images first, then convert only those: with data.limit and data.image_size,
    # memory follows the images used, not the whole source at the target size. The draws
    # are the same as ever (train permutation, then test permutation), so splits are stable.
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_train))
    if data_cfg.limit:
        order = order[: data_cfg.limit]
        test_order = rng.permutation(len(x_test))[: data_cfg.limit]
        x_test, y_test = subset(x_test, test_order), y_test[test_order]
    n_val = int(round(len(order) * data_cfg.validation_split))
    train_idx, val_idx = order[n_val:], order[:n_val]
    if len(train_idx) == 0:
        raise DataError("no training images left after the validation split; lower data.validation_split")

    def adapt(x):
        return adapt_images(x, data_cfg.image_size, data_cfg.color_mode)

    return Dataset(
        class_names=list(class_names),
        x_train=adapt(subset(x_train, train_idx)), y_train=y_train[train_idx],
        x_val=adapt(subset(x_train, val_idx)), y_val=y_train[val_idx],
        x_test=adapt(x_test), y_test=y_test,
    )  # fmt: skip


def subset(x, idx):
    """Rows idx of an image array, or the files idx of a FileSplit (still on disk)."""
    return x.take(idx) if isinstance(x, FileSplit) else x[idx]


RESIZE_BATCH = 1024  # images resized at once: bounds the float32 working copy


def adapt_images(x: np.ndarray, image_size, color_mode) -> np.ndarray:
    """Resize and convert channels, keeping uint8; in batches of RESIZE_BATCH images, so
    the float working memory stays small whatever the number of images. A FileSplit is
    decoded to size already."""
    if isinstance(x, FileSplit):
        return x
    channels = {"rgb": 3, "grayscale": 1}.get(color_mode, x.shape[-1])
    size = tuple(image_size) if image_size else tuple(x.shape[1:3])
    if channels == x.shape[-1] and size == tuple(x.shape[1:3]):
        return x
    out = np.empty((len(x), *size, channels), np.uint8)
    for start in range(0, len(x), RESIZE_BATCH):
        out[start : start + RESIZE_BATCH] = _adapt_batch(x[start : start + RESIZE_BATCH], size, channels)
    return out


def _adapt_batch(x: np.ndarray, size, channels: int) -> np.ndarray:
    if channels == 3 and x.shape[-1] == 1:
        x = np.repeat(x, 3, axis=-1)
    elif channels == 1 and x.shape[-1] == 3:
        x = (x.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32))[..., None]
        x = x.round().astype(np.uint8)
    if size != tuple(x.shape[1:3]):
        from cnnlab.backend import tf

        resized = tf().image.resize(x, size, method="bilinear").numpy()
        x = np.clip(resized, 0, 255).round().astype(np.uint8)
    return x
