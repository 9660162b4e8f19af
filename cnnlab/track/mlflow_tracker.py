"""MLflow: one MLflow run per cnnlab run, in the experiment named after the config.

Where: ``MLFLOW_TRACKING_URI`` when set, else a SQLite store ``<output-dir>/mlflow.db``
(printed once). In a SQLite store that cnnlab creates an experiment in, artifacts go
beside the database (``<output-dir>/mlartifacts/<config name>/``), not in ./mlruns of
whatever folder training started from. What is logged:

- params: the flattened resolved config (``train.optimizer.learning_rate``, ``model.layers.0.filters``);
- tags: ``cnnlab.run_dir``, ``cnnlab.config``, ``cnnlab.phase`` (train | feature_extraction | head | fine_tune);
- metrics: each epoch's history.csv row at step = epoch; the test metrics at the last epoch's step;
- artifacts: config.yaml, metrics.json, history.csv, model.keras; report.html and
  ``export/<format>[-<quantize>]/`` when they are written (cnnlab.track.log_files).

The run id is kept in the run directory (cnnlab.track.TRACKING_FILE, section "mlflow"),
so ``--resume`` continues the same MLflow run. Needs ``pip install 'cnnlab[mlflow]'``
(mlflow-skinny with SQLAlchemy and Alembic for the SQLite store); the UI is the full
``mlflow`` package: ``mlflow ui --backend-store-uri sqlite:///outputs/mlflow.db``.
"""

from __future__ import annotations

import logging
import os
import time
from pathlib import Path

from cnnlab.track.base import RunInfo, TrackerBase, say_once

STORE_FILE = "mlflow.db"  # the default store, in the output directory (not in a run directory)
ARTIFACTS_DIR = "mlartifacts"  # beside the default store: <output-dir>/mlartifacts/<config name>/
MAX_PARAM_LENGTH = 6000  # MLflow's limit on a param value
BATCH = 100  # MLflow's limit on params per log_batch call
STATUS = {"interrupted": "KILLED", "failed": "FAILED"}


def _client(uri: str):
    import mlflow  # noqa: F401  (mlflow-skinny)
    from mlflow import MlflowClient

    for name in ("mlflow.store.db.utils", "alembic.runtime.migration"):  # "Creating initial MLflow database tables..."
        logging.getLogger(name).setLevel(logging.WARNING)
    return MlflowClient(tracking_uri=uri)


def default_uri(output_dir: Path) -> str:
    return f"sqlite:///{(Path(output_dir) / STORE_FILE).resolve()}"


def _sqlite_folder(uri: str) -> Path | None:
    """The folder of a SQLite store's file, or None for other stores."""
    if not uri.startswith("sqlite:///"):
        return None
    path = uri[len("sqlite:///"):].split("?", 1)[0]
    return Path(path).resolve().parent if path and path != ":memory:" else None


class MlflowTracker(TrackerBase):
    name = "mlflow"
    title = "MLflow"

    def start(self, info: RunInfo) -> dict:
        saved = info.saved
        if info.resuming and saved.get("run_id") and saved.get("tracking_uri"):
            self.uri, self.run_id = saved["tracking_uri"], saved["run_id"]
            self.client = _client(self.uri)
            self.client.update_run(self.run_id, status="RUNNING")  # raises if the store lost the run
            say_once(f"MLflow: continuing run {self.run_id} in {self.uri}")
            return dict(saved)
        self.uri = os.environ.get("MLFLOW_TRACKING_URI") or default_uri(info.output_dir)
        if self.uri.startswith("sqlite:///") and _sqlite_folder(self.uri):
            _sqlite_folder(self.uri).mkdir(parents=True, exist_ok=True)
        self.client = _client(self.uri)
        experiment_id = self._experiment(info.config_name)
        tags = {"cnnlab.run_dir": str(Path(info.run_dir).resolve()), "cnnlab.config": info.config_name,
                "mlflow.source.name": "cnnlab"}  # fmt: skip
        run = self.client.create_run(experiment_id, run_name=Path(info.run_dir).name, tags=tags)
        self.run_id = run.info.run_id
        self._params(info.params)
        shown = self.uri if os.environ.get("MLFLOW_TRACKING_URI") else f"{self.uri} (set MLFLOW_TRACKING_URI for another store)"
        say_once(f"MLflow: tracking to {shown}")
        return {"tracking_uri": self.uri, "experiment_id": experiment_id, "run_id": self.run_id}

    def _experiment(self, name: str) -> str:
        found = self.client.get_experiment_by_name(name)
        if found is not None:
            return found.experiment_id
        folder = _sqlite_folder(self.uri)
        location = str(folder / ARTIFACTS_DIR / name) if folder else None
        try:
            return self.client.create_experiment(name, artifact_location=location)
        except Exception:  # created meanwhile by another process
            found = self.client.get_experiment_by_name(name)
            if found is None:
                raise
            return found.experiment_id

    def _params(self, params: dict) -> None:
        from mlflow.entities import Param

        items = [Param(key[:250], str(_text(value))[:MAX_PARAM_LENGTH]) for key, value in params.items()]
        for i in range(0, len(items), BATCH):
            self.client.log_batch(self.run_id, params=items[i : i + BATCH], synchronous=True)

    def _metrics(self, step: int, metrics: dict) -> None:
        from mlflow.entities import Metric

        now = int(time.time() * 1000)
        items = [Metric(key, value, now, step) for key, value in metrics.items()]
        if items:
            self.client.log_batch(self.run_id, metrics=items, synchronous=True)

    def log_epoch(self, step: int, metrics: dict, phase: str) -> None:
        if getattr(self, "phase", None) != phase:
            self.client.set_tag(self.run_id, "cnnlab.phase", phase)
            self.phase = phase
        self._metrics(step, metrics)

    def finish(self, step: int, metrics: dict, files: list[Path]) -> None:
        self._metrics(step, metrics)
        for path in files:
            self.client.log_artifact(self.run_id, str(path))
        self.client.set_terminated(self.run_id, "FINISHED")

    def stop(self, status: str) -> None:
        self.client.set_terminated(self.run_id, STATUS.get(status, "FAILED"))

    @classmethod
    def log_later(cls, saved: dict, paths: list[Path], folder: str | None) -> None:
        client = _client(saved["tracking_uri"])
        for path in paths:
            if path.is_dir():
                client.log_artifacts(saved["run_id"], str(path), "/".join(p for p in (folder, path.name) if p))
            elif path.is_file():
                client.log_artifact(saved["run_id"], str(path), folder)


def _text(value) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    return str(value)
