"""The shift test: test accuracy as every test image moves right by 0, 1, ... pixels.
``cnnlab shift RUN RUN...`` draws the curves on one plot.

A CNN's convolutions move their feature maps with the image, but Flatten + Dense gives
every position of the last maps its own weights: the textbook CNN is tied to positions
almost as much as a dense network (configs/shift-*.yaml: 0.42 and 0.27 at 4 pixels).
Global average pooling, or training on shifted images, is what makes it tolerate shifts."""

from __future__ import annotations

import numpy as np

from cnnlab.inspect.evaluate import predict_probabilities, run_test_data


def shift_right(images: np.ndarray, pixels: int) -> np.ndarray:
    """(N, H, W, C) moved ``pixels`` to the right; the columns that come in are black (0)."""
    if pixels == 0:
        return images
    out = np.zeros_like(images)
    out[:, :, pixels:] = images[:, :, :-pixels]
    return out


def shift_accuracy(loaded, shifts) -> list[float]:
    """Accuracy of a loaded run on its own test split, once per shift."""
    x_test, y_test = run_test_data(loaded)
    x_test = np.asarray(x_test)  # a streamed image folder's test split is read into memory: shifting needs pixels
    return [float((predict_probabilities(loaded.model, shift_right(x_test, s)).argmax(1) == y_test).mean())
            for s in shifts]  # fmt: skip


def kept_line(name: str, accuracies: list[float], largest: int, width: int = 0) -> str:
    """'shift-cnn   keeps 32 % of its accuracy at 6 px (0.880 -> 0.285)'."""
    first, last = accuracies[0], accuracies[-1]
    kept = f"{100 * last / first:.0f} %" if first > 0 else "-"
    return f"{name:<{width}}  keeps {kept} of its accuracy at {largest} px ({first:.3f} -> {last:.3f})"


def plot_shift(curves: dict[str, list[float]], shifts):
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7.5, 4), layout="constrained")
    for name, accuracies in curves.items():
        ax.plot(list(shifts), accuracies, "-o", label=name)
    ax.set_xlabel("pixels the test images moved right")
    ax.set_ylabel("test accuracy")
    ax.set_title("how accuracy falls as the images move")
    ax.grid(alpha=0.3)
    ax.legend(loc="upper left", bbox_to_anchor=(1.02, 1), borderaxespad=0)  # outside: it never covers a curve
    return fig
