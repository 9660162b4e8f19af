"""Read a run directory forgivingly, for the report, ``cnnlab runs`` and ``cnnlab compare``.

Training writes its files one by one, and a run can stop (or be damaged) between any
two of them. Looking at a run must still work: every file is read on its own, and
what is missing or unreadable becomes one line in ``RunFiles.problems`` instead of an
exception. No TensorFlow here: listing a hundred runs must stay fast.
"""

from __future__ import annotations

import csv
import json
import re
import time
from dataclasses import dataclass, field
from pathlib import Path

import yaml

from cnnlab.errors import first_line
from cnnlab.runs import RunDir, owner_alive

STAMP = re.compile(r"^(\d{8}-\d{6})(?:-\d+)?$")  # outputs/<name>/<YYYYmmdd-HHMMSS>[-N]
RUN_MARKERS = (RunDir.CONFIG, RunDir.STATUS, RunDir.HISTORY, RunDir.MODEL)
TOTAL_PARAMS = re.compile(r"^Total params: ([\d,]+)", re.MULTILINE)


@dataclass
class RunFiles:
    path: Path
    config_text: str | None = None
    config: dict | None = None  # config.yaml as plain data (not validated: an old run still shows)
    status: dict | None = None
    history: dict[str, list[float]] | None = None  # columns; only rows that parse completely
    metrics: dict | None = None
    class_names: list[str] | None = None
    summary_text: str | None = None
    problems: list[str] = field(default_factory=list)  # "metrics.json: missing (...)"

    # -- facts derived from the files, each None when unknown

    @property
    def name(self) -> str:
        name = (self.config or {}).get("name") if isinstance(self.config, dict) else None
        return str(name) if name else self.path.parent.name

    @property
    def label(self) -> str:
        return f"{self.path.parent.name}/{self.path.name}"

    @property
    def started(self) -> float:
        """Seconds since the epoch: from the directory's stamp, else its modification time."""
        match = STAMP.match(self.path.name)
        if match:
            try:
                return time.mktime(time.strptime(match.group(1), "%Y%m%d-%H%M%S"))
            except ValueError:
                pass
        try:
            return self.path.stat().st_mtime
        except OSError:
            return 0.0

    @property
    def state(self) -> str:
        if not self.status:
            if self.metrics is not None:
                return "done"  # runs from before status.json existed
            return "unknown"
        state = str(self.status.get("state", "unknown"))
        if state == "running" and owner_alive(self.status) is False:  # another host: believe it
            return "stopped"  # killed without a chance to say so (kill -9, power cut)
        return state

    @property
    def epochs_done(self) -> int | None:
        if self.status and isinstance(self.status.get("epoch"), int):
            return self.status["epoch"]
        if self.history and self.history.get("epoch"):
            return len(self.history["epoch"])
        return None

    @property
    def epochs_planned(self) -> int | None:
        value = (self.status or {}).get("epochs")
        return value if isinstance(value, int) else None

    @property
    def best_epoch(self) -> int | None:
        value = (self.metrics or {}).get("best_epoch")
        return value if isinstance(value, int) else None

    @property
    def test_accuracy(self) -> float | None:
        return _number((self.metrics or {}).get("test_accuracy"))

    @property
    def test_loss(self) -> float | None:
        return _number((self.metrics or {}).get("test_loss"))

    @property
    def train_seconds(self) -> float | None:
        """metrics.json's whole-run time; before evaluation, the sum of the epochs so far."""
        value = _number((self.metrics or {}).get("train_seconds"))
        if value is None and self.history and self.history.get("epoch_seconds"):
            value = round(sum(self.history["epoch_seconds"]), 2)
        return value

    @property
    def parameters(self) -> int | None:
        match = TOTAL_PARAMS.search(self.summary_text or "")
        return int(match.group(1).replace(",", "")) if match else None

    @property
    def phases(self) -> list[int]:
        return sorted({int(p) for p in (self.history or {}).get("phase", [])})


def is_run_like(path: Path) -> bool:
    """A directory that training started in, however far it got."""
    return path.is_dir() and any((path / marker).exists() for marker in RUN_MARKERS)


def find_runs(output_dir: Path) -> list[Path]:
    """Every run directory outputs/<name>/<stamp>/ under output_dir, newest first."""
    output_dir = Path(output_dir)
    found = [p for p in output_dir.glob("*/*") if is_run_like(p)] if output_dir.is_dir() else []
    return sorted(found, key=lambda p: (read_run(p, light=True).started, str(p)), reverse=True)


def read_run(path: Path, *, light: bool = False) -> RunFiles:
    """Everything readable in a run directory; ``light`` skips history.csv and summary.txt."""
    run = RunFiles(Path(path))
    if light:
        return run
    run.config_text = _read_text(run, RunDir.CONFIG, "the run has no config; it was not started by cnnlab train")
    if run.config_text is not None:
        try:
            config = yaml.safe_load(run.config_text)
            if isinstance(config, dict):
                run.config = config
            else:
                run.problems.append("config.yaml: damaged (not a mapping of keys)")
        except yaml.YAMLError as exc:
            run.problems.append(f"config.yaml: damaged ({first_line(exc)})")
    run.status = _read_json(run, RunDir.STATUS, dict, "the run's state is unknown")
    run.history = _read_history(run)
    run.metrics = _read_json(run, RunDir.METRICS, dict, "not evaluated yet: training did not finish; cnnlab evaluate RUN makes it")
    classes = _read_json(run, RunDir.CLASSES, list, "class names unknown")
    if classes is None and isinstance((run.metrics or {}).get("class_names"), list):
        classes = run.metrics["class_names"]
    run.class_names = [str(c) for c in classes] if classes is not None else None
    run.summary_text = _read_text(run, RunDir.SUMMARY, "the layer table is rebuilt from the model")
    return run


# ---------------------------------------------------------------- one reader per kind of file


def _read_text(run: RunFiles, name: str, why_it_matters: str) -> str | None:
    file = run.path / name
    if not file.exists():
        run.problems.append(f"{name}: missing ({why_it_matters})")
        return None
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        run.problems.append(f"{name}: unreadable ({first_line(exc)})")
        return None


def _read_json(run: RunFiles, name: str, kind: type, why_it_matters: str):
    text = _read_text(run, name, why_it_matters)
    if text is None:
        return None
    try:
        data = json.loads(text)
    except ValueError as exc:
        run.problems.append(f"{name}: damaged ({first_line(exc)})")
        return None
    if not isinstance(data, kind):
        run.problems.append(f"{name}: damaged (expected a JSON {'object' if kind is dict else 'list'})")
        return None
    return data


def _read_history(run: RunFiles) -> dict[str, list[float]] | None:
    """history.csv as columns, keeping only complete rows (a cut-off last line is dropped)."""
    text = _read_text(run, RunDir.HISTORY, "no epoch has finished yet")
    if text is None:
        return None
    rows = list(csv.reader(text.splitlines()))
    if not rows or not rows[0]:
        run.problems.append("history.csv: empty (no epoch has finished yet)")
        return None
    header, good, bad = rows[0], [], 0
    for row in rows[1:]:
        try:
            if len(row) != len(header):
                raise ValueError
            good.append([float(v) for v in row])
        except ValueError:
            bad += 1
    if bad:
        run.problems.append(f"history.csv: {bad} damaged row{'s' * (bad > 1)} skipped (cut off or not numbers)")
    if not good:
        if not bad:
            run.problems.append("history.csv: no rows yet (no epoch has finished)")
        return None
    return {key: [row[i] for row in good] for i, key in enumerate(header)}


def _number(value) -> float | None:
    return float(value) if isinstance(value, (int, float)) and not isinstance(value, bool) else None


