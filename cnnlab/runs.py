"""Run directories: create, find, load; atomic file writes.

A run is ``outputs/<name>/<YYYYmmdd-HHMMSS>/`` holding config.yaml, model.keras,
history.csv, metrics.json, summary.txt, classes.json, status.json, plots/, tensorboard/.
Every command after ``train`` starts from a run directory (or a bare .keras file).
"""

from __future__ import annotations

import json
import os
import shutil
import tempfile
import time
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import ModelError, RunError

DEFAULT_OUTPUT_DIR = Path("outputs")
MODEL_FILE = "model.keras"
MIN_FREE_BYTES = 50 * 2**20  # checked before training: model.keras plus the per-epoch backup


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
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp:
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
    parent = Path(output_dir) / name
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
    return path.is_dir() and (path / "config.yaml").is_file()


def newest_run(output_dir: Path = DEFAULT_OUTPUT_DIR) -> Path:
    """The most recently created run (with a saved model) under output_dir."""
    output_dir = Path(output_dir)
    runs = [p.parent for p in output_dir.glob(f"*/*/{MODEL_FILE}")] if output_dir.is_dir() else []
    if not runs:
        raise RunError(f"no runs under {output_dir}/ yet; train one first: cnnlab train configs/fashion.yaml")
    return max(runs, key=lambda p: (p / "config.yaml").stat().st_mtime if (p / "config.yaml").exists() else 0)


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
        if (run_dir / "classes.json").is_file():
            class_names = json.loads((run_dir / "classes.json").read_text())
        from cnnlab.config import load_config

        config = load_config(run_dir / "config.yaml")
    return LoadedRun(run_dir, model, class_names, config)


def load_model(path: Path, *, unsafe: bool = False):
    """Load a .keras file in Keras safe mode (no arbitrary code from Lambda layers)."""
    from cnnlab.backend import keras

    try:
        return keras().models.load_model(path, safe_mode=not unsafe, compile=False)
    except Exception as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text:
            raise ModelError(
                f"{path} contains a Lambda layer (arbitrary Python code), refused in safe mode; "
                "pass --unsafe only if you trust this file"
            ) from None
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise ModelError(f"cannot load model {path}: {first}") from None
