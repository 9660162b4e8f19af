"""The training guard: the last callback of every fit. It backs up the run's state
after each epoch (after the other callbacks wrote their files), checks for a stop
request after every batch, stops at the first NaN/Inf loss or weights, and on resume
puts the backed-up state back before the first epoch runs.

One guard serves all training phases of a run (plain training has one; fine-tuning has
head + fine_tune): ``start_phase`` gives each fit its epoch range, counted across
phases, and on resume skips what the backup already holds. ``supervise`` turns every
way a fit can stop early into status.json and one error line.
"""

from __future__ import annotations

import math
import os
import socket
import time
from contextlib import contextmanager

from cnnlab import runs
from cnnlab.backend import keras
from cnnlab.errors import RunError, TrainingDiverged, TrainingInterrupted
from cnnlab.train import signals
from cnnlab.train.resume import assign_variables, count_iterators, save_backup
from cnnlab.train.state import RunState

# errno values that mean "the disk or the directory will not take the file"
DISK_ERRNOS = {28, 122, 27, 30, 13}  # ENOSPC, EDQUOT, EFBIG, EROFS, EACCES


class _Stop(Exception):
    def __init__(self, signum: int):
        self.signum = signum


class _Diverged(Exception):
    def __init__(self, what: str):
        self.what = what  # e.g. "loss became nan at epoch 2, batch 3"


def _finite(value) -> bool:
    try:
        return math.isfinite(float(value))
    except (TypeError, ValueError):
        return True


class TrainingGuard(keras().callbacks.Callback):
    """See the module docstring. ``pending``: on resume, the backed-up (model arrays,
    optimizer arrays) still to put back, at the start of the phase they belong to."""

    def __init__(self, run: runs.RunDir, cfg, state: RunState, callbacks: list, train_ds=None, phases=(), *,
                 pending=None, lr_key: str = "train.optimizer.learning_rate", dist=None):  # fmt: skip
        super().__init__()
        from cnnlab.train.distribute import StopVote

        # Under multi_worker every stop is agreed by all workers (an all-reduce every 10th batch).
        self.vote = StopVote(dist) if dist is not None else None
        self.workers = dist.workers if dist is not None else 1
        self.run, self.cfg, self.state, self.lr_key = run, cfg, state, lr_key
        self.phase, self.phase_start, self.epochs = 1, 0, cfg.train.epochs  # epochs: where this phase ends
        self.phase_epochs = [p.epochs for p in phases] or [cfg.train.epochs]  # planned length of each phase
        self.stateful = [c for c in callbacks if hasattr(c, "state_key")]  # cnnlab.train.callbacks registry
        self.epoch, self.batch, self.in_epoch, self.first_epoch = 0, 0, False, 0
        self.seconds_before = state.seconds  # training time of earlier sessions of this run
        self._pending = pending
        self.train_ds = count_iterators(train_ds) if train_ds is not None else None
        if pending is not None and self.train_ds is not None:
            # tf.data reshuffles with a seeded generator that advances once per iterator
            # made: make as many as the interrupted process had, so that the next epoch
            # sees the same order as in an uninterrupted run.
            for _ in range(state.iterators):
                iter(self.train_ds)
            self.train_ds._cnnlab_iterators = state.iterators
        self.initial_epoch, _ = self.start_phase(1, cfg.train.epochs)  # single-phase callers

    # -- phases and resuming

    @property
    def resume_phase(self) -> int:
        """Phases before this one finished before the interruption: skip them."""
        return self.state.phase if self._pending is not None else 1

    def start_phase(self, number: int, epochs: int, lr_key: str | None = None) -> tuple[int, int]:
        """Phase ``number`` (``epochs`` long) begins: -> (initial_epoch, epochs) for its fit."""
        resuming_here = self._pending is not None and self.resume_phase == number
        self.phase, self.lr_key = number, lr_key or self.lr_key
        self.phase_start = self.state.phase_start if resuming_here else self.state.epoch
        self.epochs = self.phase_start + epochs
        first = self.phase_start
        if resuming_here:  # a decided early stop ends the phase before it restarts
            first = self.epochs if self.state.stopped else self.state.epoch
        self.first_epoch = first
        return first, self.epochs

    def on_train_begin(self, logs=None):
        self._fit_started = time.perf_counter()
        self._seconds_base = self.state.seconds
        self._write_running(self.first_epoch)
        if self._pending is not None:
            self._restore()
        self._check_stop()

    def _restore(self) -> None:
        """Put the backup back: variables, then each stateful callback's counters (after
        their own on_train_begin reset them; the guard is the last callback)."""
        if not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        model_arrays, optimizer_arrays = self._pending
        assign_variables(self.model.variables, model_arrays, "model", self.run.backup)
        assign_variables(self.model.optimizer.variables, optimizer_arrays, "optimizer", self.run.backup)
        for callback in self.stateful:
            if callback.state_key in self.state.callbacks:
                callback.set_state(self.state.callbacks[callback.state_key])
        self._pending = None

    # -- every batch / epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.batch, self.first_batch, self.in_epoch = epoch, 0, 1, True

    def on_train_batch_begin(self, batch, logs=None):
        self.first_batch = batch + 1

    def on_train_batch_end(self, batch, logs=None):
        # With steps_per_execution k, Keras calls these once per k batches with the call's
        # first and last index; the last can run past the epoch's end (1503 of 1500 for k 8).
        steps = self.params.get("steps")
        self.batch = min(batch + 1, steps) if steps else batch + 1
        loss = (logs or {}).get("loss")
        if loss is not None and not _finite(loss):
            first, last = self.first_batch, self.batch
            where = f"batch {last}" if first == last else f"in batches {first}-{last}"
            raise _Diverged(f"loss became {float(loss)} at epoch {self.epoch + 1}, {where}")
        if self.batch == steps and not self._weights_finite():
            # checked before validation, and so before BestModel could save them
            raise _Diverged(f"weights became NaN or infinite during epoch {self.epoch + 1} (the loss stayed finite)")
        self._check_stop(self.batch)

    def _weights_finite(self) -> bool:
        """NaN weights can hide behind a finite loss (on CPU, ReLU and clipping drop NaN),
        so look at the weights too, once an epoch (a sum on the device: NaN and Inf survive
        it). Every batch would cost ~3 % of a small model's step."""
        ops = keras().ops
        variables = self.model.trainable_variables
        return not variables or _finite(ops.sum(ops.stack([ops.sum(ops.cast(v, "float32")) for v in variables])))

    def on_test_batch_end(self, batch, logs=None):
        self._check_stop(batch + 1)

    def on_epoch_end(self, epoch, logs=None):
        logs = logs or {}
        for key in ("loss", "val_loss"):
            if key in logs and not _finite(logs[key]):
                raise _Diverged(f"{key} became {float(logs[key])} at epoch {epoch + 1}")
        state = self.state  # history rows and best: written by HistoryRecorder and BestModel already
        state.epoch, state.phase, state.phase_start = epoch + 1, self.phase, self.phase_start
        state.stopped = bool(self.model.stop_training)
        state.callbacks = {c.state_key: c.get_state() for c in self.stateful}
        state.iterators = getattr(self.train_ds, "_cnnlab_iterators", 0)
        state.seconds = self._seconds_base + time.perf_counter() - self._fit_started
        state.precision = self.model.dtype_policy.name  # a resume keeps it, on any CPU
        save_backup(self.run, self.model, state)
        self.in_epoch = False  # a stop from here on loses nothing
        self._write_running(epoch + 1)
        self._check_stop()

    def _check_stop(self, batch: int | None = None):
        signum = signals.stop_requested()
        if self.vote is not None:
            signum = self.vote.agree(signum, batch)  # the same answer on every worker, at the same batch
        if signum is not None:
            raise _Stop(signum)

    # -- turning what stopped the fit into status.json and one error line

    def _write_status(self, state: str, epoch: int, **extra) -> None:
        # workers: the resume command (status.json's readers) names as many as trained it
        self.run.write_status(state, epoch, epochs=self.total_epochs, phase=self.phase, workers=self.workers, **extra)

    @property
    def total_epochs(self) -> int:
        """The run's planned length: this phase's end plus the phases still to come."""
        return self.epochs + sum(self.phase_epochs[self.phase :])

    def _write_running(self, epoch: int) -> None:
        self._write_status("running", epoch, pid=os.getpid(), host=socket.gethostname())

    def _saved_text(self) -> str:
        done = self.state.epoch
        if not done:
            return "no epoch had finished, so nothing was saved yet"
        best = self.state.best_epoch + 1 if self.state.best_epoch >= 0 else None
        kept = f", best model so far (epoch {best}) in {self.run.model}" if best else ""
        return f"epoch{'s' * (done > 1)} 1-{done} saved{kept}" if done > 1 else f"epoch 1 saved{kept}"

    def _fail(self, state: str, message: str, **extra) -> None:
        try:  # best effort: a full disk may refuse even this small file
            self._write_status(state, self.state.epoch, error=message, **extra)
        except OSError:
            pass

    @contextmanager
    def supervise(self):
        """Wrap ``model.fit``: every way it can stop early ends in status.json and
        (for the CLI) one ``Error:`` line with what to do next."""
        try:
            yield
        except (_Stop, KeyboardInterrupt) as exc:
            signum = exc.signum if isinstance(exc, _Stop) else 2
            name = signals.SIGNAL_NAMES.get(signum, f"signal {signum}")
            where = (
                f"during epoch {self.epoch + 1} of {self.total_epochs}"
                if self.in_epoch or not self.state.epoch
                else f"after epoch {self.state.epoch} of {self.total_epochs}"
            )
            if len(self.phase_epochs) > 1:
                where += f" (phase {self.phase} of {len(self.phase_epochs)})"
            hint = runs.resume_command(self.run.path, self.workers)
            message = f"interrupted by {name} {where}; {self._saved_text()}; resume with: {hint}"
            self._fail("interrupted", message, signal=name, resume=hint)
            raise TrainingInterrupted(message, signals.exit_code(signum)) from None
        except _Diverged as exc:
            lr = _lookup(self.cfg, self.lr_key)
            lower = f" (e.g. --set {self.lr_key}={lr / 10:g})" if isinstance(lr, float) else ""
            message = (
                f"{exc.what}; training stopped, {self._saved_text()}; "
                f"lower {self.lr_key}{lower} and train again (or check the data for broken values)"
            )
            self._fail("failed", message, reason="diverged")
            raise TrainingDiverged(message) from None
        except Exception as exc:
            disk = _disk_error(exc)
            if disk is None:
                self._fail("failed", f"{type(exc).__name__}: {exc}")
                raise
            message = (
                f"cannot write {disk.filename or self.run.path}: {disk.strerror or disk}; {self._saved_text()}; "
                f"free some space (or fix permissions), then resume with: {runs.resume_command(self.run.path, self.workers)}"
            )
            self._fail("failed", message)
            raise RunError(message) from None


def _disk_error(exc: BaseException) -> OSError | None:
    """The OSError behind ``exc`` (Keras and h5py wrap some) when it means the disk or
    directory refused a write, else None."""
    seen = set()
    while exc is not None and id(exc) not in seen:
        seen.add(id(exc))
        if isinstance(exc, OSError) and (exc.errno in DISK_ERRNOS or any(
            text in str(exc) for text in ("No space left", "File too large", "Disk quota", "Read-only file system")
        )):  # fmt: skip
            return exc
        exc = exc.__cause__ or exc.__context__
    return None


def _lookup(cfg, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = getattr(node, part, None)
    return node
