"""Run directories: every file name in one (``RunDir``), their readers and writers,
atomic file writes, and creating, finding and loading runs.

A run is ``outputs/<name>/<YYYYmmdd-HHMMSS>/`` holding config.yaml, model.keras,
history.csv, metrics.json, summary.txt, classes.json, status.json, plots/, tensorboard/.
Every command after ``train`` starts from a run directory (or a bare .keras file).
"""

from __future__ import annotations

import csv
import io
import json
import math
import os
import re
import shutil
import socket
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import ModelError, RunError, first_line

DEFAULT_OUTPUT_DIR = Path("outputs")
MODEL_FILE = "model.keras"
MIN_FREE_BYTES = 50 * 2**20  # checked before training: model.keras plus the per-epoch backup


class RunDir:
    """One run directory: the name of every file in it, and how each is read and written.
    No other module spells a run's file names."""

    CONFIG = "config.yaml"
    MODEL = MODEL_FILE
    HISTORY = "history.csv"
    METRICS = "metrics.json"
    SUMMARY = "summary.txt"
    CLASSES = "classes.json"
    STATUS = "status.json"
    INITIAL_WEIGHTS = "initial.weights.h5"
    BACKUP = "backup/state.npz"  # model + optimizer variables and the RunState record (cnnlab.train.resume)
    PLOTS = "plots"
    TENSORBOARD = "tensorboard"
    LOCK = "train.lock"  # held by the training process (cnnlab.train.lock)

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"RunDir({str(self.path)!r})"

    # -- file paths
    config = property(lambda self: self.path / self.CONFIG)
    model = property(lambda self: self.path / self.MODEL)
    history = property(lambda self: self.path / self.HISTORY)
    metrics = property(lambda self: self.path / self.METRICS)
    summary = property(lambda self: self.path / self.SUMMARY)
    classes = property(lambda self: self.path / self.CLASSES)
    status = property(lambda self: self.path / self.STATUS)
    initial_weights = property(lambda self: self.path / self.INITIAL_WEIGHTS)
    backup = property(lambda self: self.path / self.BACKUP)
    plots = property(lambda self: self.path / self.PLOTS)
    tensorboard = property(lambda self: self.path / self.TENSORBOARD)
    lock = property(lambda self: self.path / self.LOCK)
    visualize_dir = property(lambda self: self.plots / "visualize")

    def plot(self, name: str) -> Path:
        return self.plots / name

    def is_run(self) -> bool:
        return self.path.is_dir() and self.config.is_file()

    # -- status.json: {"state": "running" | "interrupted" | "failed" | "done", "epoch": N, ...}

    def write_status(self, state: str, epoch: int, **extra) -> None:
        write_json(self.status, {"state": state, "epoch": epoch, **extra})

    def read_status(self) -> dict:
        """{} when there is none or it cannot be read."""
        try:
            status = json.loads(self.status.read_text())
        except (OSError, ValueError):
            return {}
        return status if isinstance(status, dict) else {}

    # -- history.csv: one row per epoch, columns epoch, loss, ..., epoch_seconds, phase

    def write_history(self, rows: list[dict]) -> None:
        fields = list(dict.fromkeys(key for row in rows for key in row))
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=fields)
        writer.writeheader()
        writer.writerows(rows)
        write_text(self.history, out.getvalue())

    def read_history_rows(self, up_to_epoch: float = math.inf) -> list[dict]:
        """The rows of the epochs up to ``up_to_epoch`` (numbers parsed; epoch as int)."""
        if not self.history.is_file():
            return []
        with open(self.history, newline="") as f:
            rows = list(csv.DictReader(f))
        out = []
        for row in rows:
            parsed = {k: (int(v) if v.lstrip("-").isdigit() else float(v)) for k, v in row.items() if v not in (None, "")}
            if parsed.get("epoch", math.inf) <= up_to_epoch:
                out.append(parsed)
        return out

    def read_history(self) -> dict[str, list[float]]:
        """history.csv as columns: {"epoch": [...], "loss": [...], ...}."""
        rows = self.read_history_rows()
        keys = dict.fromkeys(key for row in rows for key in row)
        return {key: [float(r[key]) for r in rows if key in r] for key in keys}

    # -- metrics.json, classes.json

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


def safe_name(name: str) -> str:
    """A name from inside a file (a layer, a class, a config name) as one harmless path
    component: no separators, no '..', no hidden or empty names."""
    cleaned = re.sub(r"[^\w.+-]", "_", str(name))[:120]
    return "_" + cleaned[1:] if cleaned.startswith(".") else (cleaned or "_")


def inside(folder: str | Path, relative: str) -> Path:
    """``folder / relative`` where ``relative`` is a '/'-separated name from a file (e.g.
    a nested layer path "resnet50/conv1_conv"): each part made safe, and the result
    proven to stay under ``folder``."""
    folder = Path(folder)
    path = folder.joinpath(*(safe_name(part) for part in str(relative).split("/")))
    if not path.resolve().is_relative_to(folder.resolve()):  # defence in depth: safe_name already forbids it
        raise RunError(f"refusing to write outside {folder}: {relative!r}")
    return path


# ---------------------------------------------------------------- atomic writes


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success,
    so a crash or Ctrl-C never leaves a half-written file behind."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes) or ".tmp"  # Keras checks suffixes such as .weights.h5
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[: -len(suffix)] or 'tmp'}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        os.replace(tmp, path)
    except OSError as exc:
        if exc.filename in (None, tmp):
            exc.filename = str(path)  # name the file the user knows, not the temporary one
        raise
    finally:
        if os.path.exists(tmp):
            os.unlink(tmp)


def write_text(path: Path, text: str) -> None:
    with atomic_path(path) as tmp:
        tmp.write_text(text, encoding="utf-8")


def write_json(path: Path, data) -> None:
    write_text(path, json.dumps(data, indent=2) + "\n")


def save_model(model, path: Path) -> None:
    with atomic_path(path) as tmp:  # tmp keeps the .keras suffix Keras insists on
        model.save(tmp)


def save_figure(fig, path: Path) -> Path:
    import warnings

    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp, warnings.catch_warnings():
        # a user's class or layer names may hold glyphs the font lacks: a box is drawn, no warning
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from", category=UserWarning)
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path


# ---------------------------------------------------------------- creating and finding runs


def check_writable(output_dir: Path) -> None:
    """Fail before training, not after it, when outputs cannot be written."""
    output_dir = Path(output_dir)
    probe_dir = output_dir
    while not probe_dir.exists():
        probe_dir = probe_dir.parent
    if not probe_dir.is_dir():
        raise RunError(f"output directory {str(output_dir)!r} is under a file ({probe_dir}); choose another --output-dir")
    if not os.access(probe_dir, os.W_OK | os.X_OK):
        raise RunError(f"output directory {str(probe_dir)!r} is not writable; choose another --output-dir or fix its permissions")
    try:  # os.access says yes to root and misses read-only mounts and ACLs: really write
        fd, probe = tempfile.mkstemp(dir=probe_dir, prefix=".cnnlab-write-test.")
        os.close(fd)
        os.unlink(probe)
    except OSError as exc:
        raise RunError(f"output directory {str(probe_dir)!r} is not writable ({exc.strerror}); choose another --output-dir") from None
    free = shutil.disk_usage(probe_dir).free
    if free < MIN_FREE_BYTES:
        raise RunError(
            f"only {free / 2**20:.0f} MB free under {str(probe_dir)!r}; a run needs at least "
            f"{MIN_FREE_BYTES // 2**20} MB for its model and backups; free some space or choose another --output-dir"
        )


def create_run_dir(output_dir: Path, name: str) -> Path:
    """A new, never-reused directory outputs/<name>/<stamp>[-N]/."""
    check_writable(output_dir)
    parent = inside(output_dir, name)  # the schema's pattern already forbids "..": defence in depth
    try:
        parent.mkdir(parents=True, exist_ok=True)
        stamp = time.strftime("%Y%m%d-%H%M%S")
        for n in range(1000):
            run = parent / (stamp if n == 0 else f"{stamp}-{n}")
            try:
                run.mkdir()
                return run
            except FileExistsError:
                continue
    except OSError as exc:
        raise RunError(f"cannot create a run directory under {parent}: {exc.strerror}; choose another --output-dir") from None
    raise RunError(f"too many runs started at {stamp} under {parent}")


def is_run_dir(path: Path) -> bool:
    return RunDir(path).is_run()


def newest_run(output_dir: Path = DEFAULT_OUTPUT_DIR) -> Path:
    """The most recently created run (with a saved model) under output_dir."""
    output_dir = Path(output_dir)
    runs = [p.parent for p in output_dir.glob(f"*/*/{MODEL_FILE}")] if output_dir.is_dir() else []
    if not runs:
        raise RunError(f"no runs under {output_dir}/ yet; train one first: cnnlab train configs/fashion.yaml")
    return max(runs, key=started_time)


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


def started_time(run: Path) -> float:
    """When the run was created (its config.yaml is its first file); 0 when unknown."""
    try:
        return RunDir(run).config.stat().st_mtime
    except OSError:
        return 0.0


def resolve_run(arg: str | None, output_dir: Path = DEFAULT_OUTPUT_DIR) -> tuple[Path | None, Path]:
    """RUN argument -> (run directory or None, model file). Default: the newest run."""
    if arg is None:
        run = newest_run(output_dir)
        return run, run / MODEL_FILE
    path = Path(arg)
    if path.is_file() and path.suffix == ".keras":
        run = path.parent if is_run_dir(path.parent) else None
        return run, path
    if path.is_dir():
        if not (path / MODEL_FILE).is_file():
            raise RunError(f"{path} has no {MODEL_FILE}; pass a finished run directory or a .keras file")
        return path, path / MODEL_FILE
    if path.exists():
        raise RunError(f"{arg!r} is not a run directory or a .keras file; pass outputs/<name>/<stamp> or a .keras file")
    raise RunError(f"run {arg!r} does not exist; pass a run directory (outputs/<name>/<stamp>) or a .keras file")


@dataclass
class LoadedRun:
    run_dir: Path | None
    model: object
    class_names: list[str]
    config: object | None  # cnnlab.config.Config when the run directory is known


def load_run(arg: str | None, output_dir: Path = DEFAULT_OUTPUT_DIR, *, unsafe: bool = False) -> LoadedRun:
    run_dir, model_path = resolve_run(arg, output_dir)
    model = load_model(model_path, unsafe=unsafe)
    n_classes = int(model.output.shape[-1])
    class_names = [str(i) for i in range(n_classes)]
    config = None
    if run_dir is not None:
        rd = RunDir(run_dir)
        class_names = rd.read_classes(n_classes)
        from cnnlab.config import load_config  # runs -> config: only when a run is loaded

        config = load_config(rd.config)
    return LoadedRun(run_dir, model, class_names, config)


def _is_complete_zip(path: Path) -> bool:
    """A .keras file is a zip archive; a truncated one has no central directory at its end.
    (Not testzip(): reading every byte of a 500 MB VGG model is too slow for a check.)"""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return bool(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return False


def load_model(path: Path, *, unsafe: bool = False, unsafe_fix: str = "pass --unsafe only if you trust this file"):
    """Load a .keras file in Keras safe mode (no arbitrary code from Lambda layers).
    ``unsafe_fix``: the advice when it is refused (commands without --unsafe give their own)."""
    import cnnlab.layers  # noqa: F401  registers cnnlab's own layers before Keras reads the file
    from cnnlab.backend import keras

    path = Path(path)
    damaged = ModelError(
        f"{path} is damaged (not a complete .keras archive: truncated or overwritten); "
        "train again, or resume the run if it was interrupted (cnnlab train --resume)"
    )
    if path.is_file() and not _is_complete_zip(path):  # Keras would say "File not found"
        raise damaged
    try:
        return keras().models.load_model(path, safe_mode=not unsafe, compile=False)
    except Exception as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text:
            raise ModelError(
                f"{path} contains a Lambda layer (arbitrary Python code), refused in safe mode; {unsafe_fix}"
            ) from None
        if "Bad CRC" in text or "BadZipFile" in type(exc).__name__:  # a byte changed inside the archive
            raise damaged from None
        raise ModelError(f"cannot load model {path}: {first_line(exc)}") from None
