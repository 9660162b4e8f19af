"""Experiment tracking: a run's config, per-epoch metrics, test metrics and files, sent
to the trackers its config names (``track: [mlflow]`` or ``--track mlflow``), and its
hyperparameters and final metrics in TensorBoard's HParams format (with train.tensorboard).

    with open_tracking(cfg, run, resuming=False) as tracking:   # cnnlab.train.loop
        callbacks.append(tracking.callback(state.history, phase_names))
        ...
        tracking.finish()            # test metrics and the run's files
    log_files(run_dir, [path])       # later: report.html, export artifacts

Tracking never fails a training: a tracker that cannot start (package missing, store
unwritable) or fails later is one ``Note:`` line on stderr and is dropped. What each
tracker needs to find its run again (MLflow's run id) is kept in the run directory's
TRACKING_FILE, so ``--resume`` continues the same tracked run.

The trackers are listed in cnnlab.config.trackers ("module:class"); a new one is one
module here with the TrackerBase methods plus one entry there. Nothing here imports a
tracker's package (mlflow, TensorFlow) at module import time.
"""

from __future__ import annotations

import contextlib
import importlib
from pathlib import Path

from cnnlab import runs
from cnnlab.config.diff import flatten as dotted
from cnnlab.config.trackers import TRACKERS
from cnnlab.errors import TrainingInterrupted, first_line
from cnnlab.track.base import RunInfo, TrackerBase, note, say_once

# In a run directory: {tracker name: what it needs to continue the run, e.g. MLflow's run id}.
TRACKING_FILE = runs.RunDir.TRACKING

__all__ = ["TRACKING_FILE", "RunInfo", "TrackerBase", "Tracking", "flatten", "log_files", "note", "open_tracking", "say_once",
           "tracker_class"]


def tracker_class(name: str):
    module, _, attr = TRACKERS[name].implementation.partition(":")
    return getattr(importlib.import_module(module), attr)


def flatten(value) -> dict:
    """Nested config -> {"a.b.0.c": scalar}, the dotted keys tune.space and --set use
    (cnnlab.config.diff.flatten); unset values and empty sections left out."""
    return {key: item for key, item in dotted(value).items() if item is not None and item != [] and item != {}}


def config_params(cfg) -> dict:
    """The hyperparameters of a run: its resolved config, flattened (tune: and track: left out)."""
    return flatten(cfg.model_dump(mode="json", exclude={"tune", "track"}))


def numbers(row: dict) -> dict:
    return {k: float(v) for k, v in row.items() if isinstance(v, (int, float)) and not isinstance(v, bool)}


def read_saved(run_dir: Path) -> dict:
    return runs.read_json_file(runs.RunDir(run_dir).tracking, dict) or {}


class Tracking:
    """The trackers of one run; a failing one is dropped with one Note."""

    def __init__(self, run: runs.RunDir, trackers: list):
        self.run, self.trackers = run, trackers
        self.finished = False

    def _each(self, method: str, *args) -> None:
        for tracker in list(self.trackers):
            try:
                getattr(tracker, method)(*args)
            except Exception as exc:  # noqa: BLE001  tracking must never fail a training
                self.trackers.remove(tracker)
                note(f"{tracker.title} tracking stopped ({type(exc).__name__}: {first_line(exc)}); training goes on")

    def callback(self, rows: list, phase_names: list[str]):
        """A Keras callback that logs each epoch's history row (``rows``: RunState.history,
        appended by HistoryRecorder, which must come before it in the callback list)."""
        from cnnlab.backend import keras

        tracking = self

        class TrackEpochs(keras().callbacks.Callback):
            def on_epoch_end(self, epoch, logs=None):
                if not rows or not tracking.trackers:
                    return
                row = rows[-1]
                phase = int(row.get("phase", 1))
                name = phase_names[phase - 1] if 0 < phase <= len(phase_names) else str(phase)
                metrics = {k: v for k, v in numbers(row).items() if k != "epoch"}
                tracking._each("log_epoch", int(row["epoch"]), metrics, name)

        return TrackEpochs()

    def finish(self) -> None:
        """After the evaluation: test metrics and the run's files."""
        self.finished = True
        if not self.trackers:
            return
        metrics = numbers(self.run.read_metrics())
        step = len(self.run.read_history_rows())
        files = [p for p in (self.run.config, self.run.metrics, self.run.history, self.run.model) if p.is_file()]
        self._each("finish", step, metrics, files)


@contextlib.contextmanager
def open_tracking(cfg, run: runs.RunDir, *, resuming: bool, output_dir: Path | None = None, enabled: bool = True):
    """The trackers of ``cfg`` started on ``run`` (with HParams when train.tensorboard);
    on an exception they are told the run stopped (interrupted or failed)."""
    trackers = _start(cfg, run, resuming, output_dir) if enabled else []
    tracking = Tracking(run, trackers)
    try:
        yield tracking
    except BaseException as exc:
        status = "interrupted" if isinstance(exc, (TrainingInterrupted, KeyboardInterrupt)) else "failed"
        tracking._each("stop", status)
        raise


def _start(cfg, run: runs.RunDir, resuming: bool, output_dir: Path | None) -> list:
    from cnnlab.track.hparams import HParamsTracker  # imports TensorFlow's summary API when used

    names = list(dict.fromkeys(cfg.track))
    if not names and not cfg.train.tensorboard:
        return []
    saved = read_saved(run.path) if resuming else {}
    base = RunInfo(run.path, cfg.name, config_params(cfg), Path(output_dir) if output_dir else run.path.parent.parent,
                   resuming, cfg.train.tensorboard)  # fmt: skip
    candidates = [HParamsTracker] if cfg.train.tensorboard else []
    started, sections = [], {}
    for name in names:
        try:
            candidates.append(tracker_class(name))
        except ImportError as exc:  # only the module of a tracker itself; its package is imported in start()
            note(f"no {name} tracking: {first_line(exc)}")
    for cls in candidates:
        info = RunInfo(**{**vars(base), "saved": saved.get(cls.name, {})})
        tracker = cls()
        try:
            section = tracker.start(info)
        except Exception as exc:  # noqa: BLE001
            note(f"no {tracker.title} tracking: {_reason(exc, cls.name)}; training goes on")
            continue
        started.append(tracker)
        if section:
            sections[cls.name] = section
    if sections:
        try:
            runs.write_json(run.tracking, {**saved, **sections})
        except OSError as exc:
            note(f"{TRACKING_FILE} not written ({first_line(exc)}): --resume will start new tracked runs")
    return started


def _reason(exc: Exception, name: str) -> str:
    if isinstance(exc, ImportError):
        extra = TRACKERS[name].extra if name in TRACKERS else name
        return f"the Python package {exc.name or name!r} is not installed; pip install 'cnnlab[{extra}]'"
    return f"{type(exc).__name__}: {first_line(exc)}"


def log_files(run_dir, paths, folder: str | None = None) -> None:
    """Add ``paths`` (files or folders) to the tracked runs of ``run_dir``, if any, under
    ``folder``; e.g. report.html after train, RUN/export/onnx-int8/ after export."""
    if run_dir is None:
        return
    saved = read_saved(Path(run_dir))
    for name, section in saved.items():
        if name not in TRACKERS or not isinstance(section, dict):
            continue
        try:
            tracker_class(name).log_later(section, [Path(p) for p in paths], folder)
        except Exception as exc:  # noqa: BLE001  a tracker must never fail the command
            note(f"{name} tracking: {', '.join(Path(p).name for p in paths)} not logged ({_reason(exc, name)})")
