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
    x_train, x_test = (adapt_images(x, data_cfg.image_size, data_cfg.color_mode) for x in (x_train, x_test))
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
    return Dataset(
        class_names=list(class_names),
        x_train=subset(x_train, train_idx), y_train=y_train[train_idx],
        x_val=subset(x_train, val_idx), y_val=y_train[val_idx],
        x_test=x_test, y_test=y_test,
    )  # fmt: skip



def subset(x, idx):
    """Rows idx of an image array, or the files idx of a FileSplit (still on disk)."""
    return x.take(idx) if isinstance(x, FileSplit) else x[idx]


def adapt_images(x: np.ndarray, image_size, color_mode) -> np.ndarray:
    """Resize and convert channels, keeping uint8 (a FileSplit is decoded to size already)."""
    if isinstance(x, FileSplit):
        return x
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
