"""An exported model loaded in its own runtime: what verification and ``predict`` use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

from cnnlab.errors import ModelError

# The largest input an artifact may declare (a 4096x4096 RGB image is 50 MB of uint8);
# checked before any image is resized to it or any tensor allocated.
MAX_INPUT_VALUES = 4096 * 4096 * 3


def check_image_shape(path, dims) -> tuple[int, int, int]:
    """The declared (H, W, C) of an artifact's input as ints, or ModelError when it is not a
    positive size or is larger than MAX_INPUT_VALUES."""
    try:
        h, w, c = (int(d) for d in dims)
    except (TypeError, ValueError):
        raise ModelError(f"{path} does not take images of a fixed size (H, W, C); pass one written by cnnlab export") from None
    if min(h, w, c) < 1 or c > 4:
        raise ModelError(f"{path} declares an input of {h}x{w}x{c}, not an image; pass one written by cnnlab export")
    if h * w * c > MAX_INPUT_VALUES:
        raise ModelError(f"{path} declares an input of {h}x{w}x{c}, too large (at most {MAX_INPUT_VALUES:,} values, "
                         "e.g. 4096x4096x3); export the model at a smaller image size")  # fmt: skip
    return h, w, c


@dataclass
class Artifact:
    path: Path
    format: str
    class_names: list[str]
    image_shape: tuple[int, int, int]  # (H, W, C) the artifact takes
    run_batch: Callable[[np.ndarray], np.ndarray]  # uint8 (n, H, W, C) -> (n, classes) probabilities

    def predict(self, images: np.ndarray, batch_size: int = 128) -> np.ndarray:
        """uint8 (N, H, W, C) raw pixels -> float64 (N, classes) probabilities."""
        images = np.asarray(images)
        if images.dtype != np.uint8:
            images = np.clip(np.rint(images), 0, 255).astype(np.uint8)
        out = [np.asarray(self.run_batch(images[i : i + batch_size]), np.float64) for i in range(0, len(images), batch_size)]
        return np.concatenate(out) if out else np.zeros((0, len(self.class_names)))
