"""Pooling on a (H, W, C) grid: max, average, min (= -maxpool(-x)) and global average,
'valid' windows as Keras's MaxPooling2D/AveragePooling2D use by default."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.errors import ConfigError
from cnnlab.explain.conv import check_stride

# name -> reduction over a window's (rows, cols). Adding a kind is one entry here.
POOLINGS = {
    "max": lambda w: w.max(axis=(0, 1)),
    "average": lambda w: w.mean(axis=(0, 1)),
    "min": lambda w: w.min(axis=(0, 1)),
}


@dataclass
class PoolResult:
    x: np.ndarray  # (H, W, C)
    size: int
    stride: int
    maps: dict[str, np.ndarray]  # kind -> (OH, OW, C)
    global_average: np.ndarray  # (C,)

    def window(self, i: int, j: int) -> tuple[slice, slice]:
        s = self.stride
        return slice(i * s, i * s + self.size), slice(j * s, j * s + self.size)


def pool(x: np.ndarray, size: int = 2, stride: int | None = None) -> PoolResult:
    stride = size if stride is None else stride
    if size < 1:
        raise ConfigError(f"--size {size}: a pooling window needs at least 1x1 pixels; use --size 2 (the usual)")
    check_stride(stride)
    h, w = x.shape[:2]
    if size > h or size > w:
        raise ConfigError(f"the {size}x{size} pooling window is larger than the {h}x{w} input; "
                          "use a smaller --size or a bigger input")
    oh, ow = (h - size) // stride + 1, (w - size) // stride + 1
    result = PoolResult(x, size, stride, {k: np.zeros((oh, ow, x.shape[-1])) for k in POOLINGS}, x.mean(axis=(0, 1)))
    for i in range(oh):
        for j in range(ow):
            rows, cols = result.window(i, j)
            for kind, reduce in POOLINGS.items():
                result.maps[kind][i, j] = reduce(x[rows, cols, :])
    return result
