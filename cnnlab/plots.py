"""Standard run plots. Pure: arrays in, matplotlib Figure out (Agg backend, never shown)."""

from __future__ import annotations

import math
import warnings

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
import numpy as np  # noqa: E402

from cnnlab.errors import plot_label  # noqa: E402

# Class and layer names come from users' files (emoji, CJK): the font draws a box for a
# missing glyph, which is fine; the warning per glyph on the terminal is not.
warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from", category=UserWarning)


def plot_confusion_matrix(cm: np.ndarray, class_names: list[str]):
    """Counts, with rows = true class and columns = predicted class."""
    n = len(class_names)
    fig, ax = plt.subplots(figsize=(1.0 + 0.6 * n, 0.8 + 0.55 * n))
    ax.imshow(cm, cmap="Blues")
    labels = [plot_label(name) for name in class_names]  # names from disk: no mathtext, no surrogates
    ax.set_xticks(range(n), labels, rotation=45, ha="right")
    ax.set_yticks(range(n), labels)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    threshold = cm.max() / 2 if cm.size else 0
    for i in range(n):
        for j in range(n):
            ax.text(j, i, str(cm[i, j]), ha="center", va="center", fontsize=7,
                    color="white" if cm[i, j] > threshold else "black")  # fmt: skip
    ax.set_title(f"confusion matrix (accuracy {np.trace(cm) / max(cm.sum(), 1):.3f})")
    fig.tight_layout()
    return fig


def image_grid(images: list[np.ndarray], titles: list[str], ncols: int | None = None, suptitle: str = "",
               captions: list[str] | None = None):  # fmt: skip
    """Images (H, W, 1|3, uint8 or float) in a near-square grid with a title each (and a
    caption under each, when given)."""
    n = max(len(images), 1)
    ncols = ncols or math.ceil(math.sqrt(n))
    nrows = math.ceil(n / ncols)
    fig, axes = plt.subplots(nrows, ncols, figsize=(1.7 * ncols, (2.1 if captions else 1.9) * nrows), squeeze=False)
    for ax in axes.flat:
        ax.axis("off")
    for ax, img, title in zip(axes.flat, images, titles):
        img = np.asarray(img)
        if img.ndim == 3 and img.shape[-1] == 1:
            ax.imshow(img[..., 0], cmap="gray")
        else:
            ax.imshow(img)
        ax.set_title(plot_label(title), fontsize=7)  # titles hold class names from disk
    for ax, caption in zip(axes.flat, captions or []):
        ax.text(0.5, -0.03, caption, transform=ax.transAxes, ha="center", va="top", fontsize=7)
    if suptitle:
        fig.suptitle(suptitle)
    fig.tight_layout()
    return fig


def plot_misclassified(x, y_true, y_pred, probs, class_names, limit: int = 25):
    """The most confidently wrong test images, with true and predicted labels above each
    and its test index under it (cnnlab visualize --index N looks at it again)."""
    wrong = np.flatnonzero(y_true != y_pred)
    wrong = wrong[np.argsort(-probs[wrong, y_pred[wrong]], kind="stable")][:limit]
    titles = [
        f"true: {class_names[y_true[i]]}\npred: {class_names[y_pred[i]]} ({probs[i, y_pred[i]]:.2f})" for i in wrong
    ]
    total = int((y_true != y_pred).sum())
    return image_grid([x[i] for i in wrong], titles, captions=[f"test #{i}" for i in wrong],
                      suptitle=f"misclassified: {len(wrong)} of {total} shown (test index under each)")
