"""The run directory's layout: every file name a run has, spelled here and nowhere else.

A run is ``outputs/<name>/<YYYYmmdd-HHMMSS>[-N]/``:

    config.yaml          the fully resolved config (written first: the run's birth)
    model.keras          the best model so far
    history.csv          one row per finished epoch
    metrics.json         test metrics (written when training finishes, or by cnnlab evaluate)
    mistakes.csv         every misclassified test image: index,true,predicted,confidence
    summary.txt          the layer table
    classes.json         class names, in the model's output order
    status.json          running | interrupted | failed | done, with the epoch and the owner
    initial.weights.h5   the weights before training (for before/after pictures)
    backup/state.npz     the per-epoch backup that --resume continues from
    train.lock           held by the training process
    plots/               history.png, confusion_matrix.png, misclassified.png, visualize/<layer>/...
    report.html          cnnlab report
    network.html         cnnlab explain network (the report writes it too)
    tracking.json        tracked runs only: the MLflow store and run id (cnnlab.track)
    export/              cnnlab export's artifacts and export/verify.json
    tensorboard/         TensorBoard logs
"""

from __future__ import annotations

import re
from pathlib import Path

from cnnlab.errors import RunError

DEFAULT_OUTPUT_DIR = Path("outputs")
MODEL_FILE = "model.keras"
STAMP = re.compile(r"^(\d{8}-\d{6})(?:-\d+)?$")  # outputs/<name>/<YYYYmmdd-HHMMSS>[-N]


class RunLayout:
    """One run directory: the name of every file in it. No other module spells them.
    cnnlab.runs.rundir.RunDir adds the readers and writers of its single files."""

    CONFIG = "config.yaml"
    MODEL = MODEL_FILE
    HISTORY = "history.csv"
    METRICS = "metrics.json"
    SUMMARY = "summary.txt"
    CLASSES = "classes.json"
    STATUS = "status.json"
    INITIAL_WEIGHTS = "initial.weights.h5"
    BACKUP = "backup/state.npz"  # model + optimizer variables and the RunState record (cnnlab.train.resume)
    LOCK = "train.lock"  # held by the training process (cnnlab.train.lock)
    PLOTS = "plots"
    TENSORBOARD = "tensorboard"
    REPORT = "report.html"
    TRACKING = "tracking.json"  # tracked runs: where (cnnlab.track), so --resume continues the same tracked run
    NETWORK = "network.html"  # cnnlab explain network: the model's maps for one image (linked from the report)
    EXPORT = "export"
    VERIFY = "verify.json"  # under export/: how each artifact compared with Keras
    TTA = "tta.json"  # cnnlab evaluate --tta
    MISTAKES = "mistakes.csv"  # every misclassified test image by test index, most confidently wrong first
    # Pictures under plots/
    HISTORY_PLOT = "history.png"
    CONFUSION_PLOT = "confusion_matrix.png"
    MISTAKES_PLOT = "misclassified.png"
    AUGMENT_PREVIEW = "augment-preview.png"  # also beside the runs, under outputs/<name>/ (cnnlab augment)
    VISUALIZE = "visualize"  # plots/visualize/<layer>/<kind>.png (cnnlab visualize)
    ABOUT = ".about.json"  # beside each of those pictures: <name>.about.json, what made it (kind, layer, image)
    # Files a run may hold that are not its own results (skipped when copying a run)
    SCRATCH = (TENSORBOARD, PLOTS)
    # A folder holding any of these is a run that training started in, however far it got.
    MARKERS = (CONFIG, STATUS, HISTORY, MODEL)

    def __init__(self, path: str | Path):
        self.path = Path(path)

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"

    def __fspath__(self) -> str:
        return str(self.path)

    # -- file paths
    config = property(lambda self: self.path / self.CONFIG)
    model = property(lambda self: self.path / self.MODEL)
    history = property(lambda self: self.path / self.HISTORY)
    metrics = property(lambda self: self.path / self.METRICS)
    summary = property(lambda self: self.path / self.SUMMARY)
    classes = property(lambda self: self.path / self.CLASSES)
    status = property(lambda self: self.path / self.STATUS)
    initial_weights = property(lambda self: self.path / self.INITIAL_WEIGHTS)
    backup = property(lambda self: self.path / self.BACKUP)
    lock = property(lambda self: self.path / self.LOCK)
    plots = property(lambda self: self.path / self.PLOTS)
    tensorboard = property(lambda self: self.path / self.TENSORBOARD)
    report = property(lambda self: self.path / self.REPORT)
    network_page = property(lambda self: self.path / self.NETWORK)
    tracking = property(lambda self: self.path / self.TRACKING)
    export_dir = property(lambda self: self.path / self.EXPORT)
    verify = property(lambda self: self.export_dir / self.VERIFY)
    tta = property(lambda self: self.path / self.TTA)
    mistakes = property(lambda self: self.path / self.MISTAKES)
    history_plot = property(lambda self: self.plots / self.HISTORY_PLOT)
    confusion_plot = property(lambda self: self.plots / self.CONFUSION_PLOT)
    mistakes_plot = property(lambda self: self.plots / self.MISTAKES_PLOT)
    augment_preview = property(lambda self: self.plots / self.AUGMENT_PREVIEW)
    visualize_dir = property(lambda self: self.plots / self.VISUALIZE)

    def plot(self, name: str) -> Path:
        return self.plots / name

    def is_run(self) -> bool:
        """A run cnnlab can load or resume: it has its config."""
        return self.path.is_dir() and self.config.is_file()

    def is_run_like(self) -> bool:
        """A folder that training started in, however far it got (for listing and reports)."""
        return self.path.is_dir() and any((self.path / marker).exists() for marker in self.MARKERS)


def safe_name(name: str) -> str:
    """A name from inside a file (a layer, a class, a config name) as one harmless path
    component: no separators, no '..', no hidden or empty names."""
    cleaned = re.sub(r"[^\w.+-]", "_", str(name))[:120]
    return "_" + cleaned[1:] if cleaned.startswith(".") else (cleaned or "_")


def inside(folder: str | Path, relative: str) -> Path:
    """``folder / relative`` where ``relative`` is a '/'-separated name from a file (e.g.
    a nested layer path "resnet50/conv1_conv"): each part made safe, and the result
    proven to stay under ``folder``."""
    folder = Path(folder)
    path = folder.joinpath(*(safe_name(part) for part in str(relative).split("/")))
    if not path.resolve().is_relative_to(folder.resolve()):  # defence in depth: safe_name already forbids it
        raise RunError(f"refusing to write outside {folder}: {relative!r}")
    return path
