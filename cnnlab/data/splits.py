"""What every data source returns, and what training gets after the split."""

from __future__ import annotations

from dataclasses import dataclass
from typing import NamedTuple

import numpy as np


class RawData(NamedTuple):
    """A source's result: (x_train, y_train), (x_test, y_test) as uint8 (N, H, W, C)
    images and int64 labels, and one name per class."""

    train: tuple[np.ndarray, np.ndarray]
    test: tuple[np.ndarray, np.ndarray]
    class_names: list[str]


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
