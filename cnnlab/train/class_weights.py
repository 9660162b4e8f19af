"""``train.class_weight``: weigh each class's loss so rare classes count as much as common ones.

    train:
      class_weight: balanced            # none | balanced | {class_name: weight, ...}

``balanced`` gives class c the weight n_samples / (n_classes * n_c) (scikit-learn's
rule): a class with half the average number of images counts twice. A mapping names
classes by their names (data.class_names, folder names, or the dataset's own); classes
left out weigh 1. The weights go to ``fit(class_weight=...)``, which multiplies each
sample's loss by its class's weight (MixUp/CutMix soft labels: the weight of the
dominant class).
"""

from __future__ import annotations

import difflib

import numpy as np

from cnnlab.errors import ConfigError


def class_weights(setting, y_train: np.ndarray, class_names: list[str]) -> dict[int, float] | None:
    """train.class_weight -> {class index: weight} for fit, or None for none."""
    if setting in (None, "none"):
        return None
    n = len(class_names)
    if setting == "balanced":
        counts = np.bincount(np.asarray(y_train, np.int64), minlength=n)
        empty = [class_names[c] for c in range(n) if counts[c] == 0]
        if empty:
            raise ConfigError(
                f"train.class_weight: balanced cannot weigh class {empty[0]!r}, which has no training images; "
                "add images of it or give the weights as {class_name: weight}"
            )
        return {c: float(len(y_train) / (n * counts[c])) for c in range(n)}
    unknown = [name for name in setting if name not in class_names]
    if unknown:
        close = difflib.get_close_matches(str(unknown[0]), class_names, n=1)
        hint = f" (did you mean {close[0]!r}?)" if close else ""
        shown = ", ".join(class_names[:12]) + (", ..." if n > 12 else "")
        raise ConfigError(f"train.class_weight: unknown class {unknown[0]!r}{hint}; the classes are: {shown}")
    return {c: float(setting.get(name, 1.0)) for c, name in enumerate(class_names)}


def describe_class_weights(weights: dict[int, float] | None, class_names: list[str], setting) -> str:
    """One line for the run's summary.txt."""
    if weights is None:
        return "class weights: none (every image counts the same)"
    shown = ", ".join(f"{class_names[c]} {w:.3g}" for c, w in weights.items())
    label = "balanced" if setting == "balanced" else "given"
    return f"class weights ({label}): {shown}"
