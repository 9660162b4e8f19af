"""RunState: the one record of a training run's progress.

Every part of training that must survive an interruption keeps its state here, and
only here: the guard (epochs, phase, early stop, iterator count, seconds), the best-model
keeper (best value and epoch), the history writer (rows), and every stateful callback
(under its ``state_key``, e.g. early stopping's wait counter). The backup
(cnnlab.train.resume) saves ``to_record()`` beside the model and optimizer variables
after each epoch; resuming rebuilds the state with ``from_record``.

No Keras here: the record is plain JSON, so it round-trips in a unit test in
milliseconds, and its keys are the ones backup/state.npz has always had (a run
interrupted by an older cnnlab resumes with this one).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

# The record keys RunState owns; every other key of a record is a stateful callback's state.
CORE_KEYS = ("epoch", "phase", "phase_start", "stopped", "best", "best_epoch", "iterators", "seconds", "precision")


@dataclass
class RunState:
    epoch: int = 0  # epochs done, counted across phases
    phase: int = 1  # the phase (1-based, cnnlab.train.phases.plan_phases order) of the last epoch done
    phase_start: int = 0  # epochs done before that phase began
    stopped: bool = False  # early stopping ended that phase
    best: float | None = None  # best monitored value so far (None until the keeper starts)
    best_epoch: int = -1  # 0-based epoch of the best value; -1: none yet
    iterators: int = 0  # tf.data iterators made from the training set (the shuffle order follows it)
    seconds: float = 0.0  # training seconds, over every session of this run
    precision: str | None = None  # the dtype policy it trains in (auto may choose otherwise on another CPU)
    callbacks: dict[str, dict] = field(default_factory=dict)  # state_key -> a stateful callback's state
    history: list[dict] = field(default_factory=list)  # history.csv rows (the run directory keeps them)

    def to_record(self) -> dict:
        """The JSON record the backup stores (history.csv holds the rows)."""
        return {
            "epoch": self.epoch,
            "phase": self.phase,
            "phase_start": self.phase_start,
            "stopped": self.stopped,
            "best": json_float(self.best),
            "best_epoch": self.best_epoch,
            **{key: _json_values(state) for key, state in self.callbacks.items()},
            "iterators": self.iterators,
            "seconds": round(self.seconds, 3),
            **({"precision": self.precision} if self.precision else {}),  # absent from older records
        }

    @classmethod
    def from_record(cls, record: dict, history: list[dict] | None = None) -> RunState:
        callbacks = {k: _float_values(v) for k, v in record.items() if k not in CORE_KEYS and isinstance(v, dict)}
        return cls(
            epoch=int(record.get("epoch", 0)),
            phase=int(record.get("phase", 1)),
            phase_start=int(record.get("phase_start", 0)),
            stopped=bool(record.get("stopped", False)),
            best=from_json_float(record.get("best")),
            best_epoch=int(record.get("best_epoch", -1)),
            iterators=int(record.get("iterators", 0)),
            seconds=float(record.get("seconds", 0.0)),
            precision=record.get("precision") if isinstance(record.get("precision"), str) else None,
            callbacks=callbacks,
            history=list(history or []),
        )


def json_float(value):
    """A float as JSON can hold it: infinities as "inf" / "-inf"."""
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def from_json_float(value):
    return float(value) if isinstance(value, str) else value


def _json_values(state: dict) -> dict:
    return {k: json_float(v) if isinstance(v, float) else v for k, v in state.items()}


def _float_values(state: dict) -> dict:
    return {k: float(v) if v in ("inf", "-inf", "nan") else v for k, v in state.items()}
