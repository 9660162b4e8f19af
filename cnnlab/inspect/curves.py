"""Loss and accuracy curves from history.csv columns, for one run (with its phase
boundaries marked) or several runs overlaid (one colour per run)."""

from __future__ import annotations

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib.ticker import MaxNLocator  # noqa: E402

from cnnlab.errors import plot_label  # noqa: E402

METRICS = ("loss", "accuracy")


def phase_boundaries(history: dict[str, list[float]]) -> list[tuple[float, int]]:
    """[(x between the two epochs, number of the phase that starts)] where history's phase changes."""
    phases, epochs = history.get("phase") or [], _epochs(history)
    return [
        ((epochs[i - 1] + epochs[i]) / 2, int(phases[i]))
        for i in range(1, min(len(phases), len(epochs)))
        if phases[i] != phases[i - 1]
    ]


def plot_curves(series: list[tuple[str, dict[str, list[float]]]], best_epoch: int | None = None):
    """``series``: [(label, history columns)]. Training solid, validation dashed. One run:
    phase boundaries dotted, and ``best_epoch`` (the one kept in model.keras) marked."""
    fig, axes = plt.subplots(1, 2, figsize=(10, 4))
    single = len(series) == 1
    palette = matplotlib.colormaps["tab10"]
    for ax, metric in zip(axes, METRICS):
        for i, (label, history) in enumerate(series):
            epochs = _epochs(history)
            for j, (key, style) in enumerate(((metric, "-o"), (f"val_{metric}", "--s"))):
                values = history.get(key) or []
                if not values:
                    continue
                colour = palette(j if single else i % 10)
                # Several runs: one legend entry per run (its colour); the line style says train/val.
                name = key if single else (None if j else plot_label(label))
                ax.plot(epochs[: len(values)], values, style, color=colour, markersize=3, label=name)
        if single and best_epoch is not None:
            ax.axvline(best_epoch, color="tab:green", linestyle="--", linewidth=1.2, alpha=0.8,
                       label=f"best epoch {best_epoch} (kept)")  # fmt: skip
        if single:
            for x, phase in phase_boundaries(series[0][1]):
                ax.axvline(x, color="0.4", linestyle=":", linewidth=1.2)
                ax.annotate(f"phase {phase} starts", (x, 1), xycoords=("data", "axes fraction"), xytext=(3, -12),
                            textcoords="offset points", fontsize=8, color="0.3")  # fmt: skip
        ax.set_xlabel("epoch")
        ax.xaxis.set_major_locator(MaxNLocator(integer=True))
        ax.set_title(metric if single else f"{metric} (solid: training, dashed: validation)")
        ax.grid(alpha=0.3)
        if ax.get_legend_handles_labels()[0]:
            ax.legend(fontsize=8 if single else 7)
    fig.tight_layout()
    return fig


def _epochs(history: dict[str, list[float]]) -> list[float]:
    if history.get("epoch"):
        return list(history["epoch"])
    longest = max((len(v) for v in history.values()), default=0)
    return list(range(1, longest + 1))

