"""Tables for the terminal: the one fixed-width printer of the listings (runs, compare,
tune, data), and ``cnnlab runs``'s rows.
``--json`` prints the same rows through cnnlab.runs.write.json_text (strict JSON)."""

from __future__ import annotations

import time
from pathlib import Path

from cnnlab.errors import RunError, printable
from cnnlab.runs.find import find_runs
from cnnlab.runs.layout import RunLayout
from cnnlab.runs.read import TABLE_FILES, RunFiles, read_run


def text_table(header: list[str], rows: list[list], right: set[int] | tuple = ()) -> str:
    """Columns as wide as their widest cell, two spaces apart; ``right``: column indexes
    aligned right (numbers). Cells are str()-ed; trailing spaces trimmed."""
    cells = [[str(v) for v in header]] + [[str(v) for v in row] for row in rows]
    widths = [max(len(r[i]) for r in cells) for i in range(len(header))]
    return "\n".join(
        "  ".join(v.rjust(w) if i in right else v.ljust(w) for i, (v, w) in enumerate(zip(r, widths))).rstrip()
        for r in cells
    )


# ---------------------------------------------------------------- cnnlab runs

COLUMNS = ("name", "started", "status", "epochs", "best_epoch", "test_accuracy", "train_seconds", "parameters", "path")
HEADERS = {"best_epoch": "best", "test_accuracy": "test acc", "train_seconds": "train time", "parameters": "params"}
NUMERIC = ("epochs", "best_epoch", "test_accuracy", "train_seconds", "parameters")


def run_row(run: RunFiles) -> dict:
    """The facts of one run as plain JSON values (None where unknown)."""
    return {
        "name": run.name,
        "started": time.strftime("%Y-%m-%d %H:%M:%S", time.localtime(run.started)),
        "status": run.state,
        "epochs": run.epochs_done,
        "epochs_planned": run.epochs_planned,
        "best_epoch": run.best_epoch,
        "test_accuracy": run.test_accuracy,
        "train_seconds": run.train_seconds,
        "parameters": run.parameters,
        "path": str(run.path),
        "problems": run.problems,
    }


def list_runs(output_dir: Path) -> list[dict]:
    """One row per run, newest first, reading only the files the table shows (history.csv
    only for a run that has no metrics yet: its training time is the sum of its epochs)."""
    output_dir = Path(output_dir)
    if not output_dir.is_dir():
        what = "is a file" if output_dir.exists() else "does not exist"
        raise RunError(f"output directory {str(output_dir)!r} {what}; pass --output-dir where your runs are (default: outputs)")
    rows = []
    for path in find_runs(output_dir):
        run = read_run(path, files=TABLE_FILES)
        if run.metrics is None:
            run = read_run(path, files=(*TABLE_FILES, RunLayout.HISTORY))
        rows.append(run_row(run))
    return rows


def format_runs(rows: list[dict]) -> str:
    """``cnnlab runs``'s table for the terminal."""
    body = [[_text(c, row) for c in COLUMNS] for row in rows]
    return text_table([HEADERS.get(c, c) for c in COLUMNS], body, {COLUMNS.index(c) for c in NUMERIC})


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
    return printable(str(value))
