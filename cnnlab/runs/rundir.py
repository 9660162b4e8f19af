"""RunDir: a run directory's file names (cnnlab.runs.layout) with the reader and writer
of each single file. Whole runs are read tolerantly by cnnlab.runs.read.read_run."""

from __future__ import annotations

import json

from cnnlab.errors import RunError, first_line
from cnnlab.runs.layout import RunLayout
from cnnlab.runs.read import History, history_csv, parse_history, read_json_file
from cnnlab.runs.write import write_json, write_text


class RunDir(RunLayout):
    """A run directory: its file names, and how each single file is read and written."""

    def write_status(self, state: str, epoch: int, **extra) -> None:
        """status.json: {"state": "running" | "interrupted" | "failed" | "done", "epoch": N, ...}"""
        write_json(self.status, {"state": state, "epoch": epoch, **extra})

    def read_status(self) -> dict:
        """{} when there is none or it cannot be read."""
        return read_json_file(self.status, dict) or {}

    def write_history(self, rows: list[dict]) -> None:
        write_text(self.history, history_csv(rows))

    def read_history_rows(self, up_to_epoch: float = float("inf")) -> list[dict]:
        """The rows of the epochs up to ``up_to_epoch``, strictly (a damaged file raises RunError)."""
        rows = parse_history(self.history, strict=True).rows if self.history.is_file() else []
        return [row for row in rows if row.get("epoch", float("inf")) <= up_to_epoch]

    def read_history(self) -> dict[str, list[float]]:
        """history.csv as columns: {"epoch": [...], "loss": [...], ...}."""
        return History([], self.read_history_rows()).columns()

    def read_metrics(self) -> dict:
        return json.loads(self.metrics.read_text())

    def write_metrics(self, metrics: dict) -> None:
        write_json(self.metrics, metrics)

    def read_classes(self, n_classes: int) -> list[str]:
        """classes.json, checked: a JSON list of ``n_classes`` names (the model's outputs).
        Missing: the numbers 0..n-1. Damaged or mismatched: RunError naming the file."""
        if not self.classes.is_file():
            return [str(i) for i in range(n_classes)]
        fix = f"retrain, or write it as a JSON list of {n_classes} class names"
        try:
            names = json.loads(self.classes.read_text(encoding="utf-8"))
        except (OSError, ValueError) as exc:
            raise RunError(f"{self.classes} is damaged ({first_line(exc)[:80]}); {fix}") from None
        if not isinstance(names, list) or not all(isinstance(n, (str, int)) for n in names):
            raise RunError(f"{self.classes} is not a list of class names; {fix}")
        if len(names) != n_classes:
            raise RunError(f"{self.classes} lists {len(names)} classes but the model predicts {n_classes}; {fix}")
        return [str(n) for n in names]
