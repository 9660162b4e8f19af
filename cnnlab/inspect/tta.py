"""Test-time augmentation (TTA): average a model's predictions over N augmented
copies of each image, made by the run's own augmentation block.

A cnnlab model is ``image -> augmentation (Sequential, training only) -> Rescaling -> ...``.
The block is taken out of the model by name and applied with ``training=True``; the
whole model then runs with ``training=False``, where its own augmentation block is
the identity and Dropout/BatchNorm behave as at inference. So each copy is one
augmented image through the inference model, with exactly the training augmentations.
"""

from __future__ import annotations

import numpy as np

from cnnlab.errors import ModelError
from cnnlab.inspect.tta_views import AUGMENTATION_BLOCK as BLOCK_NAME


def augmentation_block(model):
    """The model's augmentation block, or a ModelError saying TTA needs one."""
    try:
        return model.get_layer(BLOCK_NAME)
    except ValueError:
        raise ModelError(
            f"model {model.name!r} has no augmentation block, so there is nothing to vary at test time; "
            "--tta needs a run trained with an augment: section (e.g. configs/fashion-aug.yaml)"
        ) from None


def tta_probabilities(model, images: np.ndarray, copies: int, batch_size: int = 256) -> np.ndarray:
    """(N, H, W, C) raw pixels -> (N, classes) probabilities averaged over ``copies``
    augmented versions of every image."""
    if copies < 1:
        raise ModelError(f"--tta {copies}: the number of augmented copies must be at least 1")
    from cnnlab.backend import keras
    from cnnlab.inspect.evaluate import predict_probabilities

    block = augmentation_block(model)
    k = keras()
    total = None  # each call draws new augmentations (the block's layers keep their own random state)
    for _ in range(copies):
        augmented = np.concatenate([
            k.ops.convert_to_numpy(block(images[i : i + batch_size].astype("float32"), training=True))
            for i in range(0, len(images), batch_size)
        ])  # fmt: skip
        probs = predict_probabilities(model, augmented, batch_size)
        total = probs if total is None else total + probs
    return total / copies


def tta_accuracy(model, images: np.ndarray, labels: np.ndarray, copies: int, batch_size: int = 256,
                 plain: np.ndarray | None = None) -> dict:  # fmt: skip
    """Accuracy with and without TTA on the same images. ``plain``: the model's usual
    probabilities when already computed."""
    from cnnlab.inspect.evaluate import predict_probabilities

    labels = np.asarray(labels, np.int64)
    if plain is None:
        plain = predict_probabilities(model, images, batch_size)
    averaged = tta_probabilities(model, images, copies, batch_size)
    return {
        "copies": copies,
        "images": int(len(labels)),
        "accuracy": round(float((plain.argmax(1) == labels).mean()), 5),
        "tta_accuracy": round(float((averaged.argmax(1) == labels).mean()), 5),
    }


def tta_run(loaded, copies: int, batch_size: int = 256) -> dict:
    """TTA on a loaded run's own test split; for a run directory also writes tta.json."""
    from cnnlab import runs
    from cnnlab.inspect.evaluate import run_test_data

    augmentation_block(loaded.model)  # before loading any data
    x_test, y_test = run_test_data(loaded)
    result = tta_accuracy(loaded.model, x_test, y_test, copies, batch_size)
    if loaded.run_dir is not None:
        runs.write_json(runs.RunDir(loaded.run_dir).tta, result)
    return result
