"""Every write into a run directory (and every other file cnnlab writes): atomic, in the
user's umask, and never through a symlink that leads out of the folder it belongs to.

A crash or Ctrl-C never leaves a half-written file behind: each file is written beside
its target under a temporary name and renamed over it only on success.
"""

from __future__ import annotations

import json
import math
import os
import tempfile
import warnings
from contextlib import contextmanager
from pathlib import Path

from cnnlab.errors import RunError
from cnnlab.runs.layout import STAMP, RunLayout


def _umask() -> int:
    """The process's umask: from /proc on Linux; elsewhere by setting and restoring it (a
    moment in which another thread's new file could get the wrong mode)."""
    try:
        for line in Path("/proc/self/status").read_text().splitlines():
            if line.startswith("Umask:"):
                return int(line.split()[1], 8)
    except (OSError, ValueError, IndexError):
        pass
    mask = os.umask(0)
    os.umask(mask)
    return mask


def check_within(path: Path, root: Path) -> None:
    """Refuse ``path`` when, with symlinks resolved, it leaves ``root`` (a run folder whose
    plots/ is a symlink to elsewhere must not get files written there)."""
    if not Path(path).resolve().is_relative_to(Path(root).resolve()):
        raise RunError(
            f"refusing to write {path}: it leads outside {root} (a symbolic link?); "
            "remove the link or copy the run to a folder of its own"
        )


def run_root(path: Path) -> Path | None:
    """The run directory that ``path`` lies in (lexically, before resolving links), or None:
    a folder named by its stamp (outputs/<name>/<YYYYmmdd-HHMMSS>) that training started in.
    (Any folder holding a config.yaml would also take a project folder above a symlinked
    outputs/ for a run, and refuse the run's own files.)"""
    for parent in Path(path).absolute().parents:
        if STAMP.match(parent.name) and RunLayout(parent).is_run_like():
            return parent
    return None


@contextmanager
def atomic_path(path: Path):
    """Yield a temporary path beside ``path``; rename it over ``path`` only on success.
    The file gets the permissions a plain open() would give (0666 less the umask: mkstemp
    makes 0600 files, which a shared class folder or a served export folder cannot read).
    Inside a run directory, a path that a symlink leads out of the run is refused."""
    path = Path(path)
    root = run_root(path)
    if root is not None:  # the nearest folder that exists: mkdir must not follow a link out either
        check_within(next(p for p in (path, *path.parents) if p.exists()), root)
    path.parent.mkdir(parents=True, exist_ok=True)
    suffix = "".join(path.suffixes) or ".tmp"  # Keras checks suffixes such as .weights.h5
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name[: -len(suffix)] or 'tmp'}.", suffix=suffix)
    os.close(fd)
    try:
        yield Path(tmp)
        if os.path.isfile(tmp):
            os.chmod(tmp, 0o666 & ~_umask())
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


def strict_json(data):
    """``data`` with NaN and infinities as null: JSON has no such numbers, and other
    readers (jq, browsers) refuse Python's NaN."""
    if isinstance(data, float) and not math.isfinite(data):
        return None
    if isinstance(data, dict):
        return {k: strict_json(v) for k, v in data.items()}
    if isinstance(data, (list, tuple)):
        return [strict_json(v) for v in data]
    return data


def json_text(data, indent: int | None = 2) -> str:
    return json.dumps(strict_json(data), indent=indent, allow_nan=False)


def write_json(path: Path, data) -> None:
    write_text(path, json_text(data) + "\n")


def save_model(model, path: Path) -> None:
    with atomic_path(path) as tmp:  # tmp keeps the .keras suffix Keras insists on
        model.save(tmp)


def save_figure(fig, path: Path) -> Path:
    import matplotlib.pyplot as plt

    with atomic_path(path) as tmp, warnings.catch_warnings():
        # a user's class or layer names may hold glyphs the font lacks: a box is drawn, no warning
        warnings.filterwarnings("ignore", message=r"Glyph \d+ .* missing from", category=UserWarning)
        fig.savefig(tmp, dpi=110, bbox_inches="tight")
    plt.close(fig)
    return path
