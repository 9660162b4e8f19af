"""What every tracker is given and implements (cnnlab.track explains the stage)."""

from __future__ import annotations

import sys
from dataclasses import dataclass, field
from pathlib import Path


@dataclass
class RunInfo:
    """What a tracker is told about the run it tracks."""

    run_dir: Path
    config_name: str
    params: dict  # the flattened resolved config, {"train.optimizer.learning_rate": 0.001, ...}
    output_dir: Path  # where the run's config folder lives (outputs/): default stores go here
    resuming: bool
    tensorboard: bool  # train.tensorboard
    saved: dict = field(default_factory=dict)  # this tracker's section of TRACKING_FILE from before (resume)


class TrackerBase:
    """The methods a tracker implements. Any of them may raise: the caller turns that
    into one Note and drops the tracker."""

    name = "tracker"
    title = "tracker"  # in Notes: "no MLflow tracking: ..."

    def start(self, info: RunInfo) -> dict:
        """Open (or, resuming, reopen) the run; return what to keep in TRACKING_FILE."""
        return {}

    def log_epoch(self, step: int, metrics: dict, phase: str) -> None:
        """One epoch's history.csv row (numbers only), step = the epoch number from 1."""

    def finish(self, step: int, metrics: dict, files: list[Path]) -> None:
        """The test metrics (numbers of metrics.json) and the run's files; the run is done."""

    def stop(self, status: str) -> None:
        """Training stopped early: status "interrupted" (resumable) or "failed"."""

    @classmethod
    def log_later(cls, saved: dict, paths: list[Path], folder: str | None) -> None:
        """Add files to a finished run (report.html, exports) from its saved section."""


def note(text: str) -> None:
    print(f"Note: {text}", file=sys.stderr, flush=True)


_SAID: set[str] = set()


def say_once(line: str) -> None:
    """Lines such as "MLflow: tracking to ..." once per process (tune trains many runs)."""
    if line not in _SAID:
        _SAID.add(line)
        print(line, file=sys.stderr, flush=True)
