"""Flip TTA, as in airbench: a model trained on left-right mirrored images
(augment.horizontal_flip) predicts each test image and its mirror, and the two probability
vectors are averaged. Deterministic, one extra pass; the evaluation measures it beside the
plain accuracy. Only for such models: fashion.yaml's model, trained without flips, knows
0.91 of the test images but only 0.67 of their mirrors."""

from __future__ import annotations

import numpy as np

# metrics.json: the test accuracy with flip TTA; test_accuracy stays the plain single pass
FLIP_TTA_KEY = "flip_tta_accuracy"
# cnnlab.model.augment.BLOCK_NAME, spelled here (and used by tta.py) to keep TensorFlow out of import time
AUGMENTATION_BLOCK = "augmentation"


def flips_horizontally(model) -> bool:
    """Whether the model's augmentation block mirrors images left-right while it trains."""
    try:
        block = model.get_layer(AUGMENTATION_BLOCK)
    except ValueError:
        return False
    return any("horizontal" in str(getattr(layer, "mode", "")) for layer in getattr(block, "layers", []))


def mirrored(images: np.ndarray) -> np.ndarray:
    """(N, H, W, C) images, each reversed along its width."""
    return np.ascontiguousarray(images[:, :, ::-1])


def flip_tta_text(metrics: dict) -> str:
    """'; 0.9264 with flip TTA (...)' to follow the test accuracy, when the evaluation measured it."""
    from cnnlab.runs.read import finite_number

    value = finite_number(metrics.get(FLIP_TTA_KEY))
    if value is None:
        return ""  # absent, or a hand-edited metrics.json
    return f"; {value:.4f} with flip TTA (each prediction the mean over the image and its mirror)"
