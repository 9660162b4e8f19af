"""An exported model loaded in its own runtime: what verification and ``predict`` use."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np


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
