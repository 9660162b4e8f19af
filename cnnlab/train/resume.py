"""Resuming: the per-epoch backup of the whole training state, and ``--resume``.

Inside a run directory (file names: cnnlab.runs.RunDir):

    status.json        {"state": "running" | "interrupted" | "failed" | "done", "epoch": N, ...}
    backup/state.npz   model and optimizer variables (the Dropout/augmentation RNG state
                       is a model variable too) as m0.., o0.., plus the RunState record
                       (cnnlab.train.state) as JSON under "record". One file, written
                       atomically: never half old, half new.

Keras's own BackupAndRestore is not used: it writes weights and metadata as two
non-atomic files and knows nothing of early stopping, the kept best model or phases.
The backup is removed once the run is done.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab import runs
from cnnlab.config import load_config
from cnnlab.config.diff import changed_keys
from cnnlab.errors import ConfigError, RunError
from cnnlab.train.state import RunState


def mark_done(run: runs.RunDir, epochs: int) -> None:
    """The run finished: say so, and drop the backup (only a resume needs it)."""
    run.write_status("done", epochs)
    run.backup.unlink(missing_ok=True)
    if run.backup.parent.is_dir() and not any(run.backup.parent.iterdir()):
        run.backup.parent.rmdir()


# ---------------------------------------------------------------- the backup file


def save_backup(run: runs.RunDir, model, state: RunState) -> None:
    arrays = {f"m{i}": np.asarray(v.numpy()) for i, v in enumerate(model.variables)}
    arrays |= {f"o{i}": np.asarray(v.numpy()) for i, v in enumerate(model.optimizer.variables)}
    arrays["record"] = np.array(json.dumps(state.to_record()))
    with runs.atomic_path(run.backup) as tmp:
        np.savez(tmp, **arrays)


def backed_up_precision(run: runs.RunDir) -> str | None:
    """The dtype policy the run's backup was trained in (None: no backup, or one from before
    cnnlab recorded it). Reads the record alone: np.load opens the arrays lazily."""
    try:
        with np.load(run.backup, allow_pickle=False) as f:
            precision = json.loads(str(f["record"])).get("precision")
    except Exception:  # no backup, or a damaged one: resume_state says so, with the fix
        return None
    return precision if isinstance(precision, str) else None


def load_backup(run: runs.RunDir):
    """-> (record, model arrays, optimizer arrays), or None when no epoch was backed up."""
    path = run.backup
    if not path.is_file():
        return None
    try:
        with np.load(path, allow_pickle=False) as f:
            record = json.loads(str(f["record"]))
            model_arrays = [f[f"m{i}"] for i in range(sum(k.startswith("m") for k in f.files))]
            opt_arrays = [f[f"o{i}"] for i in range(sum(k.startswith("o") for k in f.files))]
        if not isinstance(record, dict):
            raise ValueError("record is not a mapping")
    except Exception as exc:
        raise RunError(f"backup {path} is unreadable ({type(exc).__name__}); delete it to restart this run from epoch 1") from None
    return record, model_arrays, opt_arrays


def resume_state(run: runs.RunDir) -> tuple[RunState, tuple | None]:
    """The RunState to continue ``run`` from, and the backed-up (model, optimizer)
    arrays still to put back (None when no epoch had finished: start over in the run)."""
    loaded = load_backup(run)
    if loaded is None:
        return RunState(), None
    record, model_arrays, opt_arrays = loaded
    state = RunState.from_record(record)
    state.history = run.read_history_rows(state.epoch)  # no duplicate epochs
    return state, (model_arrays, opt_arrays)


def assign_variables(variables, arrays, what: str, path: Path) -> None:
    if len(variables) != len(arrays) or any(tuple(v.shape) != a.shape for v, a in zip(variables, arrays)):
        raise RunError(
            f"backup {path} does not match the {what} this config builds (was the code or config changed?); "
            "start a new run instead of resuming"
        )
    for v, a in zip(variables, arrays):
        v.assign(a)


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


# ---------------------------------------------------------------- cnnlab train --resume


@dataclass
class ResumePlan:
    run: Path
    cfg: object | None  # None: the run is already done, nothing to do
    status: dict
    chosen: str = ""  # "using the newest run that can be resumed: ..." when RUN was left out


def plan_resume(run_arg: str | None, output_dir: Path, config: Path | None = None, overrides=()) -> ResumePlan:
    """Check that RUN can be resumed and that any CONFIG / --set given agrees with the
    run's own config (a resumed run must be the same experiment)."""
    chosen = ""
    if run_arg:
        run = Path(run_arg)
    else:
        run, chosen = runs.newest(output_dir, "resumable")
    if not runs.is_run_dir(run):
        raise RunError(f"{run} is not a run directory (no config.yaml); pass outputs/<name>/<stamp> to --resume")
    status = runs.RunDir(run).read_status()
    if status.get("state") == "done":
        return ResumePlan(run, None, status, chosen)
    if runs.still_running(status):
        raise RunError(f"{run} is still being trained by process {status['pid']}; wait for it or stop it first")
    if runs.diverged(status):  # the same config and state would diverge again, bit for bit
        raise RunError(
            f"{run} failed because its loss or weights became NaN, and resuming repeats it exactly; "
            "train a new run with a lower learning rate (its best model so far stays in the run)"
        )
    cfg = load_config(runs.RunDir(run).config)
    if config is not None or overrides:
        given = load_config(config or runs.RunDir(run).config, overrides)
        changed = changed_keys(cfg.model_dump(mode="json"), given.model_dump(mode="json"))
        # Where it trains is not part of the experiment: a run may resume on more or fewer workers.
        changed = [c for c in changed if not any(c == k or c.startswith(k + ".") for k in HOW_KEYS)]
        if changed:
            shown = ", ".join(changed[:3]) + (f" and {len(changed) - 3} more" if len(changed) > 3 else "")
            raise ConfigError(
                f"--resume continues {run} with its own config, but yours differs at {shown}; "
                "drop CONFIG and --set to resume, or train a new run with the new config"
            )
        where = {key.split(".")[1]: getattr(given.train, key.split(".")[1]) for key in HOW_KEYS}
        cfg = cfg.model_copy(update={"train": cfg.train.model_copy(update=where)})
    return ResumePlan(run, cfg, status, chosen)


# May differ between a run and its resume: where it trains, and how many steps go into one
# call into TensorFlow (the same numbers either way).
HOW_KEYS = ("train.distribute", "train.devices", "train.steps_per_execution")

