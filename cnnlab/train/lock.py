"""One training process per run directory: an exclusive lock on RUN/train.lock, held
from before --resume reads the backup until train() returns or raises.

flock() locks belong to the open file, so the kernel releases them when the process
exits in any way (Ctrl-C, SIGTERM, kill -9, a crash): a lock left by a dead process is
never in force. The file holds the PID of the holder, for the refusal message."""

from __future__ import annotations

import os
from contextlib import contextmanager
from pathlib import Path

from cnnlab import runs
from cnnlab.errors import RunError


@contextmanager
def run_lock(run_dir: str | Path):
    """Hold the run's training lock for the with-block; RunError if another live process holds it."""
    try:
        import fcntl
    except ImportError:  # not POSIX (Windows): no lock, as before
        yield
        return
    path = runs.RunDir(run_dir).lock
    while True:
        try:
            fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise RunError(f"cannot create the lock file {path}: {exc.strerror}; check the run folder's permissions") from None
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            holder = _holder(fd)
            os.close(fd)
            raise RunError(
                f"{run_dir} is being trained by process {holder} (it holds {path}); wait for it to finish, "
                f"or stop it (kill {holder}) and resume again"
            ) from None
        # The holder before us may have deleted the file after we opened it: then our lock
        # is on a file nobody else sees; start over on the file now at that path.
        try:
            same = os.fstat(fd).st_ino == os.stat(path).st_ino
        except FileNotFoundError:
            same = False
        if same:
            break
        os.close(fd)
    try:
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        yield
    finally:
        try:
            path.unlink()  # while still locked: a waiting process retries on the new file
        except OSError:
            pass
        os.close(fd)


def _holder(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return text if text.isdigit() else "unknown"
