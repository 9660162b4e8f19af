"""The callbacks of a cnnlab fit, and the registry of stateful ones.

All of them keep their progress in the run's ``RunState`` (cnnlab.train.state), so the
per-epoch backup and ``--resume`` restore every one of them exactly:

- ``HistoryRecorder`` appends the epoch's row to ``state.history`` and rewrites history.csv;
- ``BestModel`` keeps ``state.best`` / ``state.best_epoch`` and saves model.keras;
- each entry of ``STATEFUL_CALLBACKS`` is a Keras callback with counters of its own
  (early stopping's wait, ReduceLROnPlateau's cooldown): it says how to read and set
  them (``get_state`` / ``set_state``), and the guard stores them under its ``state_key``.

A new stateful callback is one module (a Keras callback subclass with ``state_key``,
``get_state`` and ``set_state``, plus a factory from the config) and one line in
``STATEFUL_CALLBACKS``; tests/test_train_state.py proves its state survives a resume.
"""

from __future__ import annotations

import math
import time
import warnings
from pathlib import Path

from cnnlab import runs
from cnnlab.backend import keras
from cnnlab.train.state import RunState, from_json_float, json_float


class HistoryRecorder(keras().callbacks.Callback):
    """Rewrite history.csv atomically after every epoch."""

    def __init__(self, run: runs.RunDir, state: RunState):
        super().__init__()
        self.run, self.state = run, state
        self.epoch_started = time.perf_counter()
        self.phase = 1  # number of the training phase (cnnlab.train.phases.plan_phases) each row belongs to

    def start_phase(self, number: int) -> None:
        self.phase = number

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        row["learning_rate"] = float(keras().ops.convert_to_numpy(self.model.optimizer.learning_rate))
        # Wall time of the epoch including validation: the benchmark's images/s come from it.
        row["epoch_seconds"] = round(time.perf_counter() - self.epoch_started, 3)
        row["phase"] = self.phase
        self.state.history.append(row)
        self.run.write_history(self.state.history)
        # status.json is written by the guard (cnnlab.train.guard), once the epoch is backed up.


class BestModel(keras().callbacks.Callback):
    """Save model.keras whenever the monitored value improves (atomically), and keep
    the best weights in memory: EarlyStopping(restore_best_weights) restores only
    when it actually stops, so it cannot be relied on for the final model."""

    def __init__(self, path: Path, monitor: str, state: RunState, target=None):
        super().__init__()
        self.path, self.monitor, self.state = Path(path), monitor, state
        # The model to save (default: the one being fit). With cached features the fit
        # model is the head alone, but model.keras must be the full raw-pixel model.
        self.target = target
        self.mode_max = "accuracy" in monitor
        if state.best is None:
            state.best = -math.inf if self.mode_max else math.inf
        self.best_weights = None

    def on_train_begin(self, logs=None):
        # Resuming: the best epoch so far is in model.keras. Loaded before the guard
        # (the last callback) puts the backed-up variables back.
        if self.best_weights is None and self.state.best_epoch >= 0 and self.path.is_file():
            target = self.target or self.model
            with warnings.catch_warnings():  # its optimizer may be another phase's: overwritten by the guard
                warnings.simplefilter("ignore")
                target.load_weights(self.path)  # weights only: no code from the file runs
            self.best_weights = target.get_weights()

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or math.isnan(value):
            return
        if (value > self.state.best) if self.mode_max else (value < self.state.best):
            self.state.best, self.state.best_epoch = value, epoch
            model = self.target or self.model
            self.best_weights = model.get_weights()
            runs.save_model(model, self.path)

    def restore(self, model) -> None:
        if self.best_weights is not None:
            model.set_weights(self.best_weights)
        else:  # nothing improved (e.g. NaN from the start): keep the last weights
            runs.save_model(model, self.path)


# ---------------------------------------------------------------- stateful callbacks


class EarlyStopping(keras().callbacks.EarlyStopping):
    """Keras's EarlyStopping, with its counters saved in the run's backup."""

    state_key = "early_stopping"

    def get_state(self) -> dict:
        return {"wait": self.wait, "best": json_float(self.best), "best_epoch": self.best_epoch,
                "stopped_epoch": self.stopped_epoch}  # fmt: skip

    def set_state(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, from_json_float(value) if key == "best" else value)


class ReduceLROnPlateau(keras().callbacks.ReduceLROnPlateau):
    """Keras's ReduceLROnPlateau, with its counters saved in the run's backup (the
    lowered learning rate itself is an optimizer variable, which the backup holds)."""

    state_key = "reduce_lr"

    def get_state(self) -> dict:
        return {"wait": self.wait, "best": json_float(self.best), "cooldown_counter": self.cooldown_counter}

    def set_state(self, state: dict) -> None:
        for key, value in state.items():
            setattr(self, key, from_json_float(value) if key == "best" else value)


def early_stopping(cfg):
    es = cfg.train.early_stopping
    if not es.enabled:
        return None
    return EarlyStopping(monitor=cfg.train.monitor, patience=es.patience, min_delta=es.min_delta,
                         restore_best_weights=False)  # BestModel keeps the best explicitly  # fmt: skip


def reduce_lr(cfg):
    rl = cfg.train.reduce_lr
    if not rl.enabled:
        return None
    return ReduceLROnPlateau(monitor=cfg.train.monitor, factor=rl.factor, patience=rl.patience,
                             min_delta=rl.min_delta, cooldown=rl.cooldown, min_lr=rl.min_lr, verbose=0)  # fmt: skip


# state_key -> factory(cfg) returning the callback, or None when the config turns it off.
STATEFUL_CALLBACKS = {
    "early_stopping": early_stopping,
    "reduce_lr": reduce_lr,
}


def stateful_callbacks(cfg) -> list:
    made = [factory(cfg) for factory in STATEFUL_CALLBACKS.values()]
    return [callback for callback in made if callback is not None]
