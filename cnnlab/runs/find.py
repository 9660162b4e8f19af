"""Creating and finding runs: one definition of "started" (cnnlab.runs.read.started),
one of "newest", and named filters for what a command can use.

    find_runs("outputs")                       # every run, newest first
    find_runs("outputs", where="resumable")    # what --resume may continue
    newest("outputs", "model")                 # -> (path, "using the newest run with a model: ...")
"""

from __future__ import annotations

import os
import shlex
import shutil
import tempfile
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cnnlab.errors import RunError
from cnnlab.runs.layout import DEFAULT_OUTPUT_DIR, MODEL_FILE, inside
from cnnlab.runs.read import owner_alive, started
from cnnlab.runs.rundir import RunDir

MIN_FREE_BYTES = 50 * 2**20  # checked before training: model.keras plus the per-epoch backup


# ---------------------------------------------------------------- creating


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


# ---------------------------------------------------------------- the state of a run


def diverged(status: dict) -> bool:
    """It failed on NaN: resuming would repeat it bit for bit."""
    return status.get("state") == "failed" and status.get("reason") == "diverged"


def still_running(status: dict) -> bool:
    """status.json says running and that process is alive on this host (and is not this one)."""
    return status.get("state") == "running" and owner_alive(status) is True and int(status["pid"]) != os.getpid()


def resumable(status: dict) -> bool:
    return status.get("state") in ("interrupted", "failed", "running") and not still_running(status) and not diverged(status)


def resume_command(run: Path, workers: int | None = None) -> str:
    """The one spelling of how to continue ``run``: quoted for a shell, with its workers
    (default: as many as status.json says trained it)."""
    if workers is None:
        workers = RunDir(run).read_status().get("workers", 1)
    workers = workers if isinstance(workers, int) and not isinstance(workers, bool) else 1
    return f"cnnlab train --resume {shlex.quote(str(run))}" + (f" --workers {workers}" if workers > 1 else "")


# ---------------------------------------------------------------- finding


@dataclass(frozen=True)
class RunFilter:
    said: str  # "the newest run{said}" in the line that names the default run
    keep: Callable[[Path], bool]


# A command that defaults to "the newest run" names the filter it applies.
FILTERS = {
    "any": RunFilter("", lambda p: RunDir(p).is_run_like()),
    "model": RunFilter(" with a model", lambda p: RunDir(p).model.is_file()),
    "resumable": RunFilter(" that can be resumed", lambda p: resumable(RunDir(p).read_status())),
}
NONE_FOUND = {  # the error when no run passes the filter (the wording users know)
    "any": "no runs under {}/ yet; train one first: cnnlab train configs/fashion.yaml",
    "model": "no runs under {}/ yet; train one first: cnnlab train configs/fashion.yaml",
    "resumable": "no interrupted run under {}/ to resume; pass its directory: cnnlab train --resume RUN",
}


def find_runs(output_dir: Path = DEFAULT_OUTPUT_DIR, where: str = "any") -> list[Path]:
    """Every run directory outputs/<name>/<stamp>/ under output_dir that passes the filter
    ``where`` (a FILTERS name), newest first."""
    output_dir = Path(output_dir)
    keep = FILTERS[where].keep
    if not output_dir.is_dir():
        return []
    found = [p for p in output_dir.glob("*/*") if RunDir(p).is_run_like() and keep(p)]
    return sorted(found, key=lambda p: (started(p), str(p)), reverse=True)


def newest(output_dir: Path = DEFAULT_OUTPUT_DIR, where: str = "any") -> tuple[Path, str]:
    """The newest run passing ``where``, and the line that tells the user which one it is."""
    found = find_runs(output_dir, where)
    if not found:
        raise RunError(NONE_FOUND[where].format(output_dir))
    return found[0], f"using the newest run{FILTERS[where].said}: {found[0]}"


def resolve_run(arg: str | None, output_dir: Path = DEFAULT_OUTPUT_DIR) -> tuple[Path | None, Path]:
    """RUN argument -> (run directory or None, model file). Default: the newest run with a model."""
    if arg is None:
        run, _ = newest(output_dir, "model")
        return run, RunDir(run).model
    path = Path(arg)
    if path.is_file() and path.suffix == ".keras":
        run = path.parent if is_run_dir(path.parent) else None
        return run, path
    if path.is_dir():
        if not RunDir(path).model.is_file():
            raise RunError(f"{path} has no {MODEL_FILE}; pass a finished run directory or a .keras file")
        return path, RunDir(path).model
    if path.exists():
        raise RunError(f"{arg!r} is not a run directory or a .keras file; pass outputs/<name>/<stamp> or a .keras file")
    raise RunError(f"run {arg!r} does not exist; pass a run directory (outputs/<name>/<stamp>) or a .keras file")
