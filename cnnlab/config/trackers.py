"""The experiment-tracker fact sheet: every name the config's ``track:`` list and
``--track`` accept, as data.

The config's choices come from here without importing a tracker (or its package).
Each tracker is named "module:class" (cnnlab.track imports it when a run is tracked).
A new tracker is one module in cnnlab/track/ plus one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Tracker:
    implementation: str  # "module:class", imported only when a run is tracked
    extra: str  # the pip extra that installs its package
    description: str


TRACKERS: dict[str, Tracker] = {
    "mlflow": Tracker("cnnlab.track.mlflow_tracker:MlflowTracker", "mlflow",
                      "MLflow: MLFLOW_TRACKING_URI, or a SQLite store <output-dir>/mlflow.db"),  # fmt: skip
}
