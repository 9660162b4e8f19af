"""Fault-tolerant training: a backup of the whole training state at every epoch end,
a small status.json, clean stops on Ctrl-C / SIGTERM / NaN loss, and resuming.

Inside a run directory:

    status.json        {"state": "running" | "interrupted" | "failed" | "done", "epoch": N, ...}
    backup/state.npz   model and optimizer variables (the Dropout/augmentation RNG state
                       is a model variable too) plus a JSON record: epochs done, phase,
                       best-model and early-stopping state, train seconds so far.
                       One file, written atomically: never half old, half new.

Keras's own BackupAndRestore is not used: it writes weights and metadata as two
non-atomic files and knows nothing of early stopping, the kept best model or phases.
The backup is removed once the run is done.
"""

from __future__ import annotations

import csv
import json
import math
import os
import shlex
import socket
import time
import warnings
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab import runs, signals
from cnnlab.backend import keras
from cnnlab.errors import ConfigError, RunError, TrainingDiverged, TrainingInterrupted

STATUS_FILE = "status.json"
BACKUP_FILE = Path("backup") / "state.npz"
# errno values that mean "the disk or the directory will not take the file"
DISK_ERRNOS = {28, 122, 27, 30, 13}  # ENOSPC, EDQUOT, EFBIG, EROFS, EACCES


# ---------------------------------------------------------------- status.json


def write_status(run: Path, state: str, epoch: int, **extra) -> None:
    runs.write_json(Path(run) / STATUS_FILE, {"state": state, "epoch": epoch, **extra})


def read_status(run: Path) -> dict:
    try:
        return json.loads((Path(run) / STATUS_FILE).read_text())
    except (OSError, ValueError):
        return {}


def resume_command(run: Path, workers: int = 1) -> str:
    return f"cnnlab train --resume {shlex.quote(str(run))}" + (f" --workers {workers}" if workers > 1 else "")


def mark_done(run: Path, epochs: int) -> None:
    """The run finished: say so, and drop the backup (only a resume needs it)."""
    write_status(run, "done", epochs)
    backup = Path(run) / BACKUP_FILE
    backup.unlink(missing_ok=True)
    if backup.parent.is_dir() and not any(backup.parent.iterdir()):
        backup.parent.rmdir()


def _diverged(status: dict) -> bool:
    return status.get("state") == "failed" and status.get("reason") == "diverged"


def _still_running(status: dict) -> bool:
    """True if status.json says running and that process is alive on this host."""
    if status.get("state") != "running" or status.get("host") != socket.gethostname():
        return False
    try:
        os.kill(int(status.get("pid", 0)), 0)
    except (ProcessLookupError, ValueError, OverflowError):
        return False
    except PermissionError:  # alive, owned by someone else
        return True
    return int(status.get("pid", 0)) > 0 and int(status["pid"]) != os.getpid()


# ---------------------------------------------------------------- the backup file


def save_backup(run: Path, model, record: dict) -> None:
    arrays = {f"m{i}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)}
    arrays |= {f"o{i}": np.asarray(v.numpy()) for i, v in enumerate(model.optimizer.variables)}
    arrays["record"] = np.array(json.dumps(record))
    with runs.atomic_path(Path(run) / BACKUP_FILE) as tmp:
        np.savez(tmp, **arrays)


def load_backup(run: Path):
    """-> (record, model arrays, optimizer arrays), or None when no epoch was backed up."""
    path = Path(run) / BACKUP_FILE
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            record = json.loads(str(f["record"]))
            model_arrays = [f[f"m{i}"] for i in range(sum(k.startswith("m") for k in f.files))]
            opt_arrays = [f[f"o{i}"] for i in range(sum(k.startswith("o") for k in f.files))]
    except Exception as exc:
        raise RunError(f"backup {path} is unreadable ({type(exc).__name__}); delete it to restart this run from epoch 1") from None
    return record, model_arrays, opt_arrays


def _assign(variables, arrays, what: str, path: Path) -> None:
    if len(variables) != len(arrays) or any(tuple(v.shape) != a.shape for v, a in zip(variables, arrays)):
        raise RunError(
            f"backup {path} does not match the {what} this config builds (was the code or config changed?); "
            "start a new run instead of resuming"
        )
    for v, a in zip(variables, arrays):
        v.assign(a)


def read_history_rows(run: Path, up_to_epoch: int) -> list[dict]:
    """history.csv rows of the epochs already done (floats, epoch as int)."""
    path = Path(run) / "history.csv"
    if not path.is_file():
        return []
    with open(path, newline="") as f:
        rows = list(csv.DictReader(f))
    out = []
    for row in rows:
        parsed = {k: (int(v) if v.lstrip("-").isdigit() else float(v)) for k, v in row.items() if v not in (None, "")}
        if parsed.get("epoch", math.inf) <= up_to_epoch:
            out.append(parsed)
    return out


# ---------------------------------------------------------------- the training guard


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
    """The last callback of a fit: backs up the state after each epoch (after the other
    callbacks wrote history.csv and the best model), checks for a stop request after
    every batch, and stops at the first NaN/Inf loss (TerminateOnNaN, but naming the
    epoch and batch). On resume it restores what the backup holds before the first epoch.

    One guard serves all training phases of a run (plain training has one; fine-tuning
    has head + fine_tune): ``start_phase`` gives each fit its epoch range, counted
    across phases, and on resume skips what the backup already holds."""

    def __init__(self, run: Path, cfg, callbacks: list, train_ds=None, *, resume: bool = False,
                 lr_key: str = "train.optimizer.learning_rate", dist=None):  # fmt: skip
        super().__init__()
        from cnnlab.distribute import StopVote

        # Under multi_worker every stop is agreed by all workers (one all-reduce per check).
        self.vote = StopVote(dist) if dist is not None else None
        self.workers = dist.workers if dist is not None else 1
        from cnnlab.train import BestModel, HistoryRecorder

        self.run, self.cfg, self.lr_key = Path(run), cfg, lr_key
        self.phase, self.phase_start, self.epochs = 1, 0, cfg.train.epochs  # epochs: where this phase ends
        from cnnlab.transfer import plan_phases

        self.phase_epochs = [p.epochs for p in plan_phases(cfg)]  # planned length of each phase
        self.best = next((c for c in callbacks if isinstance(c, BestModel)), None)
        self.history = next((c for c in callbacks if isinstance(c, HistoryRecorder)), None)
        self.stopper = next((c for c in callbacks if isinstance(c, keras().callbacks.EarlyStopping)), None)
        self.epoch, self.batch, self.in_epoch, self.first_epoch = 0, 0, False, 0
        self.seconds_before = 0.0  # training time of earlier sessions of this run
        self.record: dict | None = None  # the latest backup's record
        self._arrays = None  # backed-up variables still to restore (resume only)
        self.train_ds = count_iterators(train_ds) if train_ds is not None else None
        if resume:
            self._prepare_resume()
        self.initial_epoch, _ = self.start_phase(1, cfg.train.epochs)  # single-phase callers

    # -- resuming

    @property
    def resume_phase(self) -> int:
        """Phases before this one finished before the interruption: skip them."""
        return int(self.record.get("phase", 1)) if self._arrays is not None else 1

    def start_phase(self, number: int, epochs: int, lr_key: str | None = None) -> tuple[int, int]:
        """Phase ``number`` (``epochs`` long) begins: -> (initial_epoch, epochs) for its fit."""
        self.phase, self.lr_key = number, lr_key or self.lr_key
        resuming_here = self._arrays is not None and self.resume_phase == number
        self.phase_start = int(self.record.get("phase_start", 0)) if resuming_here else self.epochs_done
        self.epochs = self.phase_start + epochs
        first = self.phase_start
        if resuming_here:  # a decided early stop ends the phase before it restarts
            first = self.epochs if self.record.get("stopped") else self.epochs_done
        self.first_epoch = first
        return first, self.epochs

    def _prepare_resume(self) -> None:
        loaded = load_backup(self.run)
        if loaded:
            self.record, model_arrays, opt_arrays = loaded
            self._arrays = (model_arrays, opt_arrays)
            self.seconds_before = float(self.record.get("seconds", 0.0))
        if self.history is not None:
            self.history.rows = read_history_rows(self.run, self.epochs_done)  # no duplicate epochs
        if self.train_ds is not None and self.record:
            # tf.data reshuffles with a seeded generator that advances once per iterator
            # made: make as many as the interrupted process had, so that the next epoch
            # sees the same order as in an uninterrupted run.
            for _ in range(int(self.record.get("iterators", 0))):
                iter(self.train_ds)
            self.train_ds._cnnlab_iterators = int(self.record.get("iterators", 0))

    def on_train_begin(self, logs=None):
        self._fit_started = time.perf_counter()
        self._seconds_base = float(self.record.get("seconds", 0.0)) if self.record else 0.0
        write_status(self.run, "running", self.first_epoch, epochs=self.total_epochs, phase=self.phase,
                     pid=os.getpid(), host=socket.gethostname())  # fmt: skip
        if self._arrays is not None:
            self._restore()
        self._check_stop()

    def _restore(self) -> None:
        if not self.model.optimizer.built:
            self.model.optimizer.build(self.model.trainable_variables)
        model_file = self.run / runs.MODEL_FILE
        if self.best is not None and self.record.get("best_epoch", -1) >= 0 and model_file.is_file():
            target = getattr(self.best, "target", None) or self.model  # what BestModel saves
            with warnings.catch_warnings():  # its optimizer may be another phase's: overwritten below
                warnings.simplefilter("ignore")
                target.load_weights(model_file)  # weights only: no code from the file runs
            self.best.best_weights = target.get_weights()
            self.best.best, self.best.best_epoch = _from_json_float(self.record["best"]), self.record["best_epoch"]
        path = self.run / BACKUP_FILE
        _assign(self.model.variables, self._arrays[0], "model", path)
        _assign(self.model.optimizer.variables, self._arrays[1], "optimizer", path)
        if self.stopper is not None and self.record.get("early_stopping"):
            for key, value in self.record["early_stopping"].items():
                setattr(self.stopper, key, _from_json_float(value) if key == "best" else value)
        self._arrays = None

    # -- every batch / epoch

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch, self.batch, self.in_epoch = epoch, 0, True

    def on_train_batch_end(self, batch, logs=None):
        self.batch = batch + 1
        loss = (logs or {}).get("loss")
        if loss is not None and not _finite(loss):
            raise _Diverged(f"loss became {float(loss)} at epoch {self.epoch + 1}, batch {self.batch}")
        if self.batch == self.params.get("steps") and not self._weights_finite():
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
        self.record = {
            "epoch": epoch + 1,
            "phase": self.phase,
            "phase_start": self.phase_start,
            "stopped": bool(self.model.stop_training),
            "best": None if self.best is None else _json_float(self.best.best),
            "best_epoch": -1 if self.best is None else self.best.best_epoch,
            "early_stopping": None if self.stopper is None else {
                "wait": self.stopper.wait, "best": _json_float(self.stopper.best),
                "best_epoch": self.stopper.best_epoch, "stopped_epoch": self.stopper.stopped_epoch,
            },
            "iterators": getattr(self.train_ds, "_cnnlab_iterators", 0),
            "seconds": round(self._seconds_base + time.perf_counter() - self._fit_started, 3),
        }  # fmt: skip
        save_backup(self.run, self.model, self.record)
        self.in_epoch = False  # a stop from here on loses nothing
        write_status(self.run, "running", epoch + 1, epochs=self.total_epochs, phase=self.phase,
                     pid=os.getpid(), host=socket.gethostname())  # fmt: skip
        self._check_stop()

    def _check_stop(self, batch: int | None = None):
        signum = signals.stop_requested()
        if self.vote is not None:
            signum = self.vote.agree(signum, batch)  # the same answer on every worker, at the same batch
        if signum is not None:
            raise _Stop(signum)

    # -- turning what stopped the fit into status.json and one error line

    @property
    def total_epochs(self) -> int:
        """The run's planned length: this phase's end plus the phases still to come."""
        return self.epochs + sum(self.phase_epochs[self.phase :])

    @property
    def epochs_done(self) -> int:
        return self.record["epoch"] if self.record else 0

    def _saved_text(self) -> str:
        done = self.epochs_done
        if not done:
            return "no epoch had finished, so nothing was saved yet"
        best = self.best.best_epoch + 1 if self.best is not None and self.best.best_epoch >= 0 else None
        kept = f", best model so far (epoch {best}) in {self.run / runs.MODEL_FILE}" if best else ""
        return f"epoch{'s' * (done > 1)} 1-{done} saved{kept}" if done > 1 else f"epoch 1 saved{kept}"

    def _fail(self, state: str, message: str, **extra) -> None:
        try:  # best effort: a full disk may refuse even this small file
            write_status(self.run, state, self.epochs_done, epochs=self.total_epochs, phase=self.phase,
                         error=message, **extra)  # fmt: skip
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
                if self.in_epoch or not self.epochs_done
                else f"after epoch {self.epochs_done} of {self.total_epochs}"
            )
            if len(self.phase_epochs) > 1:
                where += f" (phase {self.phase} of {len(self.phase_epochs)})"
            hint = resume_command(self.run, self.workers)
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
                f"cannot write {disk.filename or self.run}: {disk.strerror or disk}; {self._saved_text()}; "
                f"free some space (or fix permissions), then resume with: {resume_command(self.run, self.workers)}"
            )
            self._fail("failed", message)
            raise RunError(message) from None


_COUNTED: dict[type, type] = {}


def count_iterators(ds):
    """Make a tf.data dataset count the iterators made from it (in ``_cnnlab_iterators``).
    Keras makes more than one per epoch (an internal detail that may change), so the
    backup records the count instead of assuming it."""
    base = type(ds)
    if base not in _COUNTED:

        def __iter__(self):
            self._cnnlab_iterators = getattr(self, "_cnnlab_iterators", 0) + 1
            return base.__iter__(self)

        _COUNTED[base] = type(f"Counted{base.__name__}", (base,), {"__iter__": __iter__})
    if type(ds) is not _COUNTED[base] and base not in _COUNTED.values():
        ds.__class__ = _COUNTED[base]
    return ds


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


def _json_float(value):
    if value is None:
        return None
    value = float(value)
    return value if math.isfinite(value) else ("inf" if value > 0 else "-inf")


def _from_json_float(value):
    return float(value) if isinstance(value, str) else value


def _lookup(cfg, dotted: str):
    node = cfg
    for part in dotted.split("."):
        node = getattr(node, part, None)
    return node


# ---------------------------------------------------------------- cnnlab train --resume


@dataclass
class ResumePlan:
    run: Path
    cfg: object | None  # None: the run is already done, nothing to do
    status: dict


def newest_resumable(output_dir: Path) -> Path:
    """The newest run under output_dir that stopped before it was done."""
    output_dir = Path(output_dir)
    candidates = [p.parent for p in output_dir.glob(f"*/*/{STATUS_FILE}")] if output_dir.is_dir() else []
    candidates = [p for p in candidates if read_status(p).get("state") in ("interrupted", "failed", "running")]
    candidates = [p for p in candidates if not _still_running(read_status(p)) and not _diverged(read_status(p))]
    if not candidates:
        raise RunError(f"no interrupted run under {output_dir}/ to resume; pass its directory: cnnlab train --resume RUN")
    return max(candidates, key=lambda p: (p / "config.yaml").stat().st_mtime if (p / "config.yaml").exists() else 0)


def plan_resume(run_arg: str | None, output_dir: Path, config: Path | None = None, overrides=()) -> ResumePlan:
    """Check that RUN can be resumed and that any CONFIG / --set given agrees with the
    run's own config (a resumed run must be the same experiment)."""
    from cnnlab.config import load_config

    run = Path(run_arg) if run_arg else newest_resumable(output_dir)
    if not runs.is_run_dir(run):
        raise RunError(f"{run} is not a run directory (no config.yaml); pass outputs/<name>/<stamp> to --resume")
    status = read_status(run)
    if status.get("state") == "done":
        return ResumePlan(run, None, status)
    if _still_running(status):
        raise RunError(f"{run} is still being trained by process {status['pid']}; wait for it or stop it first")
    if _diverged(status):  # the same config and state would diverge again, bit for bit
        raise RunError(
            f"{run} failed because its loss or weights became NaN, and resuming repeats it exactly; "
            "train a new run with a lower learning rate (its best model so far stays in the run)"
        )
    cfg = load_config(run / "config.yaml")
    if config is not None or overrides:
        given = load_config(config or run / "config.yaml", overrides)
        changed = config_diff(cfg.model_dump(mode="json"), given.model_dump(mode="json"))
        # Where it trains is not part of the experiment: a run may resume on more or fewer workers.
        changed = [c for c in changed if c not in HOW_KEYS]
        if changed:
            shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
            raise ConfigError(
                f"--resume continues {run} with its own config, but yours differs at {shown}; "
                "drop CONFIG and --set to resume, or train a new run with the new config"
            )
        train_cfg = cfg.train.model_copy(update={key.split(".")[1]: _lookup(given, key) for key in HOW_KEYS})
        cfg = cfg.model_copy(update={"train": train_cfg})
    return ResumePlan(run, cfg, status)


HOW_KEYS = ("train.distribute", "train.devices")  # may differ between a run and its resume


def config_diff(a, b, prefix: str = "") -> list[str]:
    """Dotted paths where two config dicts differ."""
    if isinstance(a, dict) and isinstance(b, dict):
        out = []
        for key in dict.fromkeys([*a, *b]):
            out += config_diff(a.get(key), b.get(key), f"{prefix}.{key}" if prefix else str(key))
        return out
    return [] if a == b else [prefix or "config"]
