"""``cnnlab runs``: one row per run directory under an output folder, newest first,
unfinished and damaged runs included with what can be read (no TensorFlow: instant)."""

from __future__ import annotations

import time
from pathlib import Path

from cnnlab.errors import RunError
from cnnlab.inspect.run_files import RunFiles, find_runs, read_run

COLUMNS = ("name", "started", "status", "epochs", "best_epoch", "test_accuracy", "train_seconds", "parameters", "path")
HEADERS = {"best_epoch": "best", "test_accuracy": "test acc", "train_seconds": "train time", "parameters": "params"}


def run_row(run: RunFiles) -> dict:
    """The facts of one run as plain JSON values (None where unknown)."""
    done, planned = run.epochs_done, run.epochs_planned
    return {
        "name": run.name,
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started)),
        "status": run.state,
        "epochs": done,
        "epochs_planned": planned,
        "best_epoch": run.best_epoch,
        "test_accuracy": run.test_accuracy,
        "train_seconds": run.train_seconds,
        "parameters": run.parameters,
        "path": str(run.path),
        "problems": run.problems,
    }


def list_runs(output_dir: Path) -> list[dict]:
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        what = "is a file" if output_dir.exists() else "does not exist"
        raise RunError(f"output directory {str(output_dir)!r} {what}; pass --output-dir where your runs are (default: outputs)")
    return [run_row(read_run(path)) for path in find_runs(output_dir)]


def format_table(rows: list[dict]) -> str:
    """A fixed-width text table for the terminal."""
    cells = [[HEADERS.get(c, c) for c in COLUMNS]] + [[_text(c, row) for c in COLUMNS] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(COLUMNS))]
    right = {COLUMNS.index(c) for c in ("epochs", "best_epoch", "test_accuracy", "train_seconds", "parameters")}
    lines = ["  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))).rstrip() for r in cells]
    return "\n".join(lines)


def _text(column: str, row: dict) -> str:
    value = row.get(column)
    if value is None:
        return "-"
    if column == "epochs" and row.get("epochs_planned") and row["status"] != "done":
        return f"{value}/{row['epochs_planned']}"
    if column == "test_accuracy":
        return f"{value:.4f}"
    if column == "train_seconds":
        return f"{value:.0f} s" if value < 600 else f"{value / 60:.1f} min"
    if column == "parameters":
        return f"{value:,}"
    return str(value)
