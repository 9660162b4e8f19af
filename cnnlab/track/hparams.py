"""TensorBoard's HParams tab: each run's hyperparameters and final metrics, and a
search's space, in the HParams plugin format (tensorboard.plugins.hparams).

- A run with train.tensorboard writes, in RUN/tensorboard/ (beside Keras's train/ and
  validation/ logs), its flattened config as the session's hyperparameters when it starts,
  and its test metrics (test_accuracy, test_loss, ...) as scalars when it finishes. So
  ``tensorboard --logdir outputs`` compares every run there in the HParams tab, with
  Keras's epoch_loss / epoch_accuracy of the train and validation groups as metrics.
- ``cnnlab tune`` declares the search (``write_search_space``): its keys with their
  domains from the tune: section, and the metrics, so the tab shows those columns first.
"""

from __future__ import annotations

from pathlib import Path

from cnnlab import runs
from cnnlab.track.base import RunInfo, TrackerBase

# Scalars the tab lists as metrics: (tag, group); the groups are Keras TensorBoard's sub-folders.
KERAS_METRICS = (("epoch_loss", "train"), ("epoch_loss", "validation"),
                 ("epoch_accuracy", "train"), ("epoch_accuracy", "validation"))  # fmt: skip
TEST_METRICS = ("test_accuracy", "test_loss")


def _hparam_value(value):
    return value if isinstance(value, (bool, int, float, str)) else str(value)


class HParamsTracker(TrackerBase):
    name = "hparams"
    title = "TensorBoard HParams"

    def start(self, info: RunInfo) -> dict:
        from cnnlab.backend import tf
        from tensorboard.plugins.hparams import api as hp

        self.folder = runs.RunDir(info.run_dir).tensorboard
        if info.resuming and self.folder.is_dir():
            return {}  # the session was written when the run started
        self.folder.mkdir(parents=True, exist_ok=True)
        writer = tf().summary.create_file_writer(str(self.folder))
        with writer.as_default():
            # trial_id: the run's name under the output dir, e.g. tiny/20260101-120000
            hp.hparams({k: _hparam_value(v) for k, v in info.params.items()},
                       trial_id=f"{info.config_name}/{Path(info.run_dir).name}")  # fmt: skip
        writer.close()
        return {}

    def finish(self, step: int, metrics: dict, files: list[Path]) -> None:
        from cnnlab.backend import tf

        writer = tf().summary.create_file_writer(str(self.folder))
        with writer.as_default():
            for key, value in metrics.items():
                if key.startswith("test_"):
                    tf().summary.scalar(key, value, step=step)
        writer.close()


def write_search_space(folder: Path, space: dict) -> Path:
    """The HParams experiment of a search: one hyperparameter per tune.space key with its
    domain (parsed: Choice -> Discrete, Uniform -> RealInterval, IntRange -> IntInterval)
    and the metrics. ``folder``: a TensorBoard run of its own, e.g. outputs/<name>/tune/tensorboard."""
    from cnnlab.backend import tf
    from tensorboard.plugins.hparams import api as hp

    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    for old in folder.glob("events.out.tfevents.*"):  # one experiment: a --fresh search replaces it
        old.unlink()
    hparams = []
    for key, dist in space.items():
        kind = type(dist).__name__
        if kind == "Choice":
            domain = hp.Discrete(list(dist.values))
        elif kind == "IntRange":
            domain = hp.IntInterval(int(dist.low), int(dist.high))
        else:
            domain = hp.RealInterval(float(dist.low), float(dist.high))
        hparams.append(hp.HParam(key, domain))
    metrics = [hp.Metric(tag, group=group, display_name=f"{group} {tag}") for tag, group in KERAS_METRICS]
    metrics += [hp.Metric(tag, display_name=tag) for tag in TEST_METRICS]
    writer = tf().summary.create_file_writer(str(folder))
    with writer.as_default():
        hp.hparams_config(hparams=hparams, metrics=metrics)
    writer.close()
    return folder
