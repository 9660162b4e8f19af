"""``cnnlab compare``: several runs side by side: one table of their metrics and sizes,
their loss/accuracy curves overlaid, and the config keys that differ between them.

    from cnnlab.inspect.compare import compare_runs, write_curves
    comparison = compare_runs(["outputs/fashion/20260101-120000", "outputs/fashion/20260102-090000"])
    print(comparison.text())
    write_curves(comparison, "compare.png")
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

from cnnlab import runs
from cnnlab.config.diff import ABSENT, config_diff
from cnnlab.config.diff import value_text as _value_text
from cnnlab.errors import RunError, printable
from cnnlab.inspect import html_page as h
from cnnlab.runs import RunDir, RunFiles, read_run
from cnnlab.runs.table import text_table

TTA = "TTA accuracy"  # a column only where a compared run has it (cnnlab.inspect.tta_views)
# (column header, value of a run or None, format): one line per column of the metrics table
METRIC_COLUMNS = [
    ("status", lambda r: r.state, str),
    ("epochs", lambda r: r.epochs_done, str),
    ("best epoch", lambda r: r.best_epoch, str),
    ("test accuracy", lambda r: r.test_accuracy, "{:.4f}".format),
    (TTA, lambda r: r.tta and r.tta[0], "{:.4f}".format),
    ("test loss", lambda r: r.test_loss, "{:.4f}".format),
    ("best val accuracy", lambda r: _extreme(r, "val_accuracy", max), "{:.4f}".format),
    ("lowest val loss", lambda r: _extreme(r, "val_loss", min), "{:.4f}".format),
    ("train time", lambda r: r.train_seconds, "{:.1f} s".format),
    ("parameters", lambda r: r.parameters, "{:,}".format),
]


@dataclass
class Comparison:
    runs: list[RunFiles]
    labels: list[str]
    diff: list[tuple[str, list[str]]]  # (dotted config key, its value in each run), only keys that differ

    def metrics_table(self) -> tuple[list[str], list[list[str]]]:
        # TTA only where a compared run measured it (models trained with flips or shifts)
        columns = [c for c in METRIC_COLUMNS if c[0] != TTA or any(c[1](run) is not None for run in self.runs)]
        header = ["run"] + [name for name, _, _ in columns]
        rows = [[label] + [_format(get(run), fmt) for _, get, fmt in columns] for label, run in zip(self.labels, self.runs)]
        return header, rows

    def text(self) -> str:
        header, rows = self.metrics_table()
        parts = [text_table(header, rows)]
        if self.diff:
            parts.append("config keys that differ:\n" + text_table(["key", *self.labels], [[key, *values] for key, values in self.diff]))
        else:
            parts.append("the configs are identical")
        problems = [f"{label}: {p}" for label, run in zip(self.labels, self.runs) for p in run.problems]
        if problems:
            parts.append("missing or damaged:\n" + "\n".join(f"  {p}" for p in problems))
        return "\n\n".join(parts)

    def to_json(self) -> dict:
        """``cnnlab compare --json``: each run's metrics (numbers, None where unknown), the config diff."""
        keys = ("status", "epochs", "best_epoch", "test_accuracy", "test_accuracy_tta", "test_loss", "best_val_accuracy",
                "lowest_val_loss", "train_seconds", "parameters")  # fmt: skip
        return {
            "runs": [
                {"run": label, "path": str(run.path), **dict(zip(keys, (get(run) for _, get, _ in METRIC_COLUMNS))),
                 "problems": run.problems}
                for label, run in zip(self.labels, self.runs)
            ],  # fmt: skip
            "config_diff": [{"key": key.removesuffix(DIFFERS), "values": values,
                             **({"differs": key.endswith(DIFFERS)} if key.startswith(LAYER_LISTS) else {})}
                            for key, values in self.diff],  # fmt: skip
        }


def compare_runs(paths) -> Comparison:
    paths = [Path(p) for p in paths]
    if len(paths) < 2:
        raise RunError("compare needs at least two runs; cnnlab runs lists them")
    for path in paths:
        if not path.is_dir():
            what = "is a file, not a run directory" if path.exists() else "does not exist"
            raise RunError(f"run {str(path)!r} {what}; pass run directories such as outputs/<name>/<stamp> (cnnlab runs lists them)")
        if not RunDir(path).is_run_like():
            raise RunError(f"{str(path)!r} is not a run directory (no config.yaml, status.json, history.csv or model.keras); cnnlab runs lists them")
    found = [read_run(p) for p in paths]
    labels = [printable(r.label) for r in found]  # a folder name could hold a newline
    if len(set(labels)) < len(labels):
        labels = [printable(str(r.path)) for r in found]  # same name/stamp under two output folders
    return Comparison(found, labels, grouped_diff([r.config for r in found]))


LAYER_LISTS = ("model.layers", "model.head")  # shown one row per layer, side by side
DIFFERS = " *"  # marks a layer row whose layers differ


def grouped_diff(configs: list[dict | None]) -> list[tuple[str, list[str]]]:
    """cnnlab.config.diff.config_diff for the reader: [(dotted key, [value in each config])].
    A layer list that differs (model.layers, model.head) is shown whole, one row per layer
    in index order, each layer on one line ("Conv2D(filters=48, kernel_size=3)"), the rows
    whose layers differ marked " *", instead of one row per changed layer argument."""
    out = [(key, values) for key, values in config_diff(configs) if not _in_layer_list(key)]
    for name in LAYER_LISTS:
        lists = [_dotted(c, name) for c in configs]
        if all(layers == lists[0] for layers in lists[1:]):
            continue
        for i in range(max(len(layers) if isinstance(layers, list) else 0 for layers in lists)):
            row = [layer_text(layers[i]) if isinstance(layers, list) and i < len(layers) else ABSENT for layers in lists]
            mark = DIFFERS if any(v != row[0] for v in row[1:]) else ""
            out.append((f"{name}.{i}{mark}", row))
    return out


def layer_text(layer) -> str:
    """{"type": "Conv2D", "filters": 48, "kernel_size": 3} -> "Conv2D(filters=48, kernel_size=3)"."""
    if not isinstance(layer, dict):
        return _value_text(layer)
    args = ", ".join(f"{k}={_value_text(v)}" for k, v in layer.items() if k != "type")
    return f"{layer.get('type', '?')}({args})"


def legend_labels(comparison: "Comparison") -> list[str]:
    """What tells the runs apart, for the curves' legend, instead of their stamps: the name
    when names differ, then other config keys that differ ("learning_rate=0.003"), then the
    first differing layer ("layers.4=Flatten()"), two items at most; the run's label when
    the configs are identical, or beside it when two runs would read the same."""
    scalar = [(key, values) for key, values in comparison.diff if not any(key.startswith(f"{n}.") for n in LAYER_LISTS)]
    names = [values for key, values in scalar if key == "name"]
    others = [(key, values) for key, values in scalar if key != "name"]
    layers = [(key.removesuffix(DIFFERS), values) for key, values in comparison.diff if key.endswith(DIFFERS)]
    labels = []
    for i, label in enumerate(comparison.labels):
        parts = [names[0][i]] if names else []
        parts += [f"{key.rsplit('.', 1)[-1]}={values[i]}" for key, values in others[: 2 - len(parts)]]
        if layers and len(parts) < 2:
            key, values = layers[0]
            text = f"{key.removeprefix('model.')}={values[i]}"
            parts.append(text if len(text) <= 36 else text[:35] + "…")
        labels.append(", ".join(parts) or label)
    return [f"{text} ({label})" if labels.count(text) > 1 and text != label else text
            for text, label in zip(labels, comparison.labels)]  # fmt: skip


def _in_layer_list(key: str) -> bool:
    return any(key.startswith(f"{name}.") and key[len(name) + 1 :].split(".")[0].isdigit() for name in LAYER_LISTS)


def _dotted(config, key: str):
    for part in key.split("."):
        config = config.get(part) if isinstance(config, dict) else None
    return config


def write_curves(comparison: Comparison, path: Path) -> Path | None:
    """Overlaid loss/accuracy curves as a PNG; None when no run has a readable history."""
    figure = curves_figure(comparison)
    return _writing(path, lambda: runs.save_figure(figure, Path(path))) if figure is not None else None


def curves_figure(comparison: Comparison):
    series = [(label, run.history) for label, run in zip(legend_labels(comparison), comparison.runs) if run.history]
    if not series:
        return None
    from cnnlab.inspect.curves import plot_curves

    return plot_curves(series)


def html(comparison: Comparison) -> str:
    """The comparison as one self-contained page (cnnlab.inspect.html_page)."""
    header, rows = comparison.metrics_table()
    sections = [("metrics", "Metrics and parameters", h.table(header, rows, numeric=set(range(2, len(header)))))]
    figure = curves_figure(comparison)
    caption = "Loss and accuracy per epoch of each run: training solid, validation dashed, one colour per run."
    sections.append(("curves", "Training curves",
                     h.figure_matplotlib(figure, caption) if figure is not None else "<p class=muted>No run has a readable history.csv.</p>"))  # fmt: skip
    if comparison.diff:
        diff = h.table(["key", *comparison.labels], [[key, *values] for key, values in comparison.diff])
        diff = "<p class=muted>Only the keys whose values differ; (absent) means the run's config lacks the key.</p>" + diff
    else:
        diff = "<p>The configs are identical.</p>"
    sections.append(("config-diff", "Config differences", diff))
    problems = [f"{label}: {p}" for label, run in zip(comparison.labels, comparison.runs) for p in run.problems]
    runs_list = h.table(["run", "path"], [[label, run.path] for label, run in zip(comparison.labels, comparison.runs)])
    intro = f"<p class=muted>Written {h.esc(time.strftime('%Y-%m-%d %H:%M'))}.</p>" + runs_list + h.problems_box(problems)
    return h.page(f"cnnlab: {len(comparison.runs)} runs compared", sections, intro)


def write_html(comparison: Comparison, path: Path) -> Path:
    return _writing(path, lambda: runs.write_text(Path(path), html(comparison)) or Path(path))


def _writing(path, write):
    """Run ``write``; a path that cannot be written is a RunError naming it."""
    blocking = next((p for p in Path(path).parents if p.exists() and not p.is_dir()), None)
    if blocking is not None:
        raise RunError(f"cannot write {path}: {blocking} is a file, not a folder; choose another path")
    try:
        return write()
    except OSError as exc:
        raise RunError(f"cannot write {path}: {exc.strerror or exc}; choose another path") from None


def _extreme(run: RunFiles, column: str, pick):
    values = (run.history or {}).get(column)
    return pick(values) if values else None


def _format(value, fmt) -> str:
    if value is None:
        return "-"
    try:
        return fmt(value)
    except (TypeError, ValueError):
        return str(value)
