"""Run a cnnlab command in a fresh Python and report whether it imported TensorFlow:
the commands that need no model must answer without its seconds of start-up."""

from __future__ import annotations

import os
import subprocess
import sys

from tests.conftest import REPO

PROBE = """
import sys
from cnnlab.cli import cli
try:
    cli.main(args=sys.argv[1:], prog_name="cnnlab")
except SystemExit as exc:
    code = exc.code
loaded = sorted(m for m in ("tensorflow", "keras") if m in sys.modules)
print("IMPORTED:" + ",".join(loaded), file=sys.stderr)
sys.exit(code)
"""


def run_fresh(*args, cwd=None) -> tuple[subprocess.CompletedProcess, list[str]]:
    """(the finished process, the heavy modules it imported: [] when none)."""
    env = {**os.environ, "PYTHONPATH": str(REPO)}
    done = subprocess.run([sys.executable, "-c", PROBE, *map(str, args)], cwd=cwd, env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip
    marker = [line for line in done.stderr.splitlines() if line.startswith("IMPORTED:")]
    assert marker, done.stderr[-2000:]
    return done, [m for m in marker[-1].removeprefix("IMPORTED:").split(",") if m]
