"""Reading a run directory: one reader per file, for resuming (strict) and for looking
at runs (tolerant: ``cnnlab runs``, ``compare``, ``report``).

Training writes its files one by one, and a run can stop (or be damaged) between any two
of them. Looking at a run must still work: every file is read on its own, and what is
missing or unreadable becomes one line in ``RunFiles.problems`` instead of an exception.
No TensorFlow here: listing a thousand runs must stay fast.
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import socket
import time
from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.errors import RunError, first_line
from cnnlab.runs.layout import STAMP, RunLayout

TOTAL_PARAMS = re.compile(r"^Total params: ([\d,]+)", re.MULTILINE)


# ---------------------------------------------------------------- single files


def read_json_file(path: Path, kind: type):
    """A JSON file holding a ``kind`` (dict or list), or None when missing or damaged.
    Numbers too large for a float (10^400) are damage, not a crash."""
    try:
        data = json.loads(Path(path).read_text(encoding="utf-8"), parse_constant=_constant)
    except (OSError, ValueError, UnicodeDecodeError, RecursionError):
        return None
    return data if isinstance(data, kind) else None


def _constant(name: str):  # NaN, Infinity: read as float("nan") etc., as Python writes them
    return float(name)


@dataclass
class History:
    header: list[str]
    rows: list[dict]  # one per epoch: {"epoch": 1, "loss": 0.52, ...}; epoch and phase as int
    damaged: int = 0  # rows skipped (tolerant mode only)

    def columns(self) -> dict[str, list[float]]:
        keys = dict.fromkeys(key for row in self.rows for key in row)
        return {key: [float(r[key]) for r in self.rows if key in r] for key in keys}


def parse_history(path: Path, *, strict: bool) -> History:
    """history.csv, the one parser. ``strict`` (resuming): any row that does not parse is a
    RunError naming the file. Tolerant (looking): such rows (a cut-off last line, text where
    a number belongs, a number that overflows) are counted in ``damaged`` and skipped."""
    path = Path(path)
    try:
        text = path.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        if strict:
            raise RunError(f"{path} is damaged ({first_line(exc)[:80]}); delete it to restart the history") from None
        return History([], [], 1)
    lines = list(csv.reader(io.StringIO(text)))
    header = lines[0] if lines else []
    rows, damaged = [], 0
    for number, values in enumerate(lines[1:], 2):
        try:
            if len(values) != len(header):
                raise ValueError("wrong number of columns")
            if not strict and "" in values:  # a cut-off row; columns must stay aligned for plotting
                raise ValueError("empty cell")
            row = {key: _number(value) for key, value in zip(header, values) if value != ""}
        except (ValueError, OverflowError) as exc:
            if strict:
                raise RunError(f"{path} is damaged at line {number} ({exc}); delete the damaged rows to resume") from None
            damaged += 1
            continue
        rows.append(row)
    return History(header, rows, damaged)


def _number(text: str) -> int | float:
    if text.lstrip("-").isdigit() and len(text) < 19:
        return int(text)
    value = float(text)
    if math.isinf(value) and "inf" not in text.lower():
        raise OverflowError(f"{text[:20]}... is too large for a number")
    return value


def history_csv(rows: list[dict]) -> str:
    fields = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def started(path: Path) -> float:
    """When a run started, in seconds since the epoch: the stamp of its folder name
    (outputs/<name>/<YYYYmmdd-HHMMSS>), else the folder's modification time; 0 if unknown.
    The one definition of "started" and so of "newest"."""
    path = Path(path)
    match = STAMP.match(path.name)
    if match:
        try:
            return time.mktime(time.strptime(match.group(1), "%Y%m%d-%H%M%S"))
        except (ValueError, OverflowError):
            pass
    try:
        return path.stat().st_mtime
    except OSError:
        return 0.0


def owner_alive(status: dict) -> bool | None:
    """Whether the process that status.json names (pid, host) is alive: None when it ran
    on another host, where this one cannot tell."""
    if status.get("host") != socket.gethostname():
        return None
    try:
        pid = int(status.get("pid", 0))
        os.kill(pid, 0)
    except (ProcessLookupError, ValueError, TypeError, OverflowError):
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return pid > 0


# ---------------------------------------------------------------- a whole run, tolerantly


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

    @property
    def layout(self) -> RunLayout:
        return RunLayout(self.path)

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
        return started(self.path)

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
        if self.status and _is_int(self.status.get("epoch")):
            return self.status["epoch"]
        if self.history and self.history.get("epoch"):
            return len(self.history["epoch"])
        return None

    @property
    def epochs_planned(self) -> int | None:
        value = (self.status or {}).get("epochs")
        return value if _is_int(value) else None

    @property
    def best_epoch(self) -> int | None:
        value = (self.metrics or {}).get("best_epoch")
        return value if _is_int(value) else None

    @property
    def test_accuracy(self) -> float | None:
        return finite_number((self.metrics or {}).get("test_accuracy"))

    @property
    def tta(self) -> tuple[float, list[str]] | None:
        """(test accuracy averaged over the trained views, their names); see tta_result."""
        return tta_result(self.metrics or {})

    @property
    def test_loss(self) -> float | None:
        return finite_number((self.metrics or {}).get("test_loss"))

    @property
    def train_seconds(self) -> float | None:
        """metrics.json's whole-run time; before evaluation, the sum of the epochs so far."""
        value = finite_number((self.metrics or {}).get("train_seconds"))
        if value is None and self.history and self.history.get("epoch_seconds"):
            value = finite_number(round(sum(self.history["epoch_seconds"]), 2))
        return value

    @property
    def parameters(self) -> int | None:
        match = TOTAL_PARAMS.search(self.summary_text or "")
        return int(match.group(1).replace(",", "")) if match else None

    @property
    def phases(self) -> list[int]:
        return sorted({int(p) for p in (self.history or {}).get("phase", []) if math.isfinite(p)})


# What each file means to a reader when it is missing.
WHY_IT_MATTERS = {
    RunLayout.CONFIG: "the run has no config; it was not started by cnnlab train",
    RunLayout.STATUS: "the run's state is unknown",
    RunLayout.HISTORY: "no epoch has finished yet",
    RunLayout.METRICS: "not evaluated yet: training did not finish; cnnlab evaluate RUN makes it",
    RunLayout.CLASSES: "class names unknown",
    RunLayout.SUMMARY: "the layer table is rebuilt from the model",
}
# What `cnnlab runs` needs: everything but the history's rows (epochs come from status.json)
# and the class names.
TABLE_FILES = (RunLayout.CONFIG, RunLayout.STATUS, RunLayout.METRICS, RunLayout.SUMMARY)


def read_run(path: Path, *, files=None) -> RunFiles:
    """Everything readable in a run directory (or only ``files``, names from RunDir)."""
    import yaml

    run = RunFiles(Path(path))
    wanted = set(files) if files is not None else set(WHY_IT_MATTERS)
    if RunLayout.CONFIG in wanted:
        run.config_text = _read_text(run, RunLayout.CONFIG)
        if run.config_text is not None:
            try:  # libyaml's safe loader where installed: 15x faster, and `cnnlab runs` reads thousands
                config = yaml.load(run.config_text, Loader=getattr(yaml, "CSafeLoader", yaml.SafeLoader))
                if isinstance(config, dict):
                    run.config = config
                else:
                    run.problems.append(f"{RunLayout.CONFIG}: damaged (not a mapping of keys)")
            except yaml.YAMLError as exc:
                run.problems.append(f"{RunLayout.CONFIG}: damaged ({first_line(exc)})")
    if RunLayout.STATUS in wanted:
        run.status = _read_json(run, RunLayout.STATUS, dict)
    if RunLayout.HISTORY in wanted:
        run.history = _read_history(run)
    if RunLayout.METRICS in wanted:
        run.metrics = _read_json(run, RunLayout.METRICS, dict)
    if RunLayout.CLASSES in wanted:
        classes = _read_json(run, RunLayout.CLASSES, list)
        if classes is None and isinstance((run.metrics or {}).get("class_names"), list):
            classes = run.metrics["class_names"]
        run.class_names = [str(c) for c in classes] if classes is not None else None
    if RunLayout.SUMMARY in wanted:
        run.summary_text = _read_text(run, RunLayout.SUMMARY)
    return run


def _read_text(run: RunFiles, name: str) -> str | None:
    file = run.path / name
    if not file.exists():
        run.problems.append(f"{name}: missing ({WHY_IT_MATTERS[name]})")
        return None
    try:
        return file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        run.problems.append(f"{name}: unreadable ({first_line(exc)})")
        return None


def _read_json(run: RunFiles, name: str, kind: type):
    text = _read_text(run, name)
    if text is None:
        return None
    try:
        data = json.loads(text, parse_constant=_constant)
    except (ValueError, RecursionError) as exc:
        run.problems.append(f"{name}: damaged ({first_line(exc)})")
        return None
    if not isinstance(data, kind):
        run.problems.append(f"{name}: damaged (expected a JSON {'object' if kind is dict else 'list'})")
        return None
    return data


def _read_history(run: RunFiles) -> dict[str, list[float]] | None:
    """history.csv as columns, keeping only complete rows (a cut-off last line is dropped)."""
    name = RunLayout.HISTORY
    if _read_text(run, name) is None:
        return None
    history = parse_history(run.path / name, strict=False)
    if not history.header:
        run.problems.append(f"{name}: empty (no epoch has finished yet)")
        return None
    if history.damaged:
        bad = history.damaged
        run.problems.append(f"{name}: {bad} damaged row{'s' * (bad > 1)} skipped (cut off or not numbers)")
    if not history.rows:
        if not history.damaged:
            run.problems.append(f"{name}: no rows yet (no epoch has finished)")
        return None
    columns = history.columns()
    return {key: columns.get(key, []) for key in history.header}


def _is_int(value) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


# metrics.json keys of cnnlab.inspect.tta_views (TTA_KEY, VIEWS_KEY): runs may not import inspect
TTA_KEY, VIEWS_KEY = "test_accuracy_tta", "tta_views"
OLD_FLIP_KEY = "flip_tta_accuracy"  # runs of cnnlab 2026-12-03 measured the mirror only, under this key


def tta_result(metrics: dict) -> tuple[float, list[str]] | None:
    """(the test accuracy averaged over the views a model trained on, the views' names) from a
    metrics.json, or None when it has no such (finite) figure."""
    value, views = finite_number(metrics.get(TTA_KEY)), metrics.get(VIEWS_KEY)
    if value is None and finite_number(metrics.get(OLD_FLIP_KEY)) is not None:
        value, views = finite_number(metrics.get(OLD_FLIP_KEY)), ["as is", "mirrored"]
    if value is None or not isinstance(views, list) or not views or not all(isinstance(v, str) for v in views):
        return None
    return value, views


def finite_number(value) -> float | None:
    """A metrics.json number as a float; None for a missing, boolean, infinite, NaN or overflowing value."""
    if isinstance(value, bool) or not isinstance(value, (int, float)):
        return None
    try:
        number = float(value)
    except OverflowError:  # an int of 400 digits
        return None
    return number if math.isfinite(number) else None
