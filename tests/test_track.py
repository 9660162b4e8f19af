"""Experiment tracking (cnnlab.track): a real local MLflow SQLite store read back with
MlflowClient, a resumed run that keeps its MLflow run, tracking failures that are one Note,
and TensorBoard's own event reader finding the HParams data of a tune search."""

from __future__ import annotations

import importlib.util
import json
import os
import sys
from pathlib import Path

import pytest
import yaml

from cnnlab.runs import RunDir
from cnnlab.track import TRACKING_FILE, flatten
from tests.conftest import train_until_backup, write_config

os.environ.setdefault("MLFLOW_DISABLE_TELEMETRY", "true")  # offline: no usage reports from the suite

HAVE_MLFLOW = all(importlib.util.find_spec(name) for name in ("mlflow", "sqlalchemy", "alembic"))
# CI installs cnnlab[mlflow] (scripts/setup.sh): there a missing extra must fail, not skip.
requires_mlflow = pytest.mark.skipif(
    not os.environ.get("CI") and not HAVE_MLFLOW, reason="the mlflow extra is not installed: pip install 'cnnlab[mlflow]'"
)


@pytest.fixture(autouse=True)
def default_store(monkeypatch):
    monkeypatch.delenv("MLFLOW_TRACKING_URI", raising=False)  # the default: <output-dir>/mlflow.db
    from cnnlab.track import base

    monkeypatch.setattr(base, "_SAID", set())  # "printed once" per process: once per test here


def _client(out: Path):
    from mlflow import MlflowClient

    return MlflowClient(tracking_uri=f"sqlite:///{(out / 'mlflow.db').resolve()}")


def _saved(run: Path) -> dict:
    return json.loads((Path(run) / TRACKING_FILE).read_text())["mlflow"]


# ---------------------------------------------------------------- fast: no training


def test_flatten_names_keys_as_tune_space_and_set_do():
    flat = flatten({"train": {"optimizer": {"learning_rate": 0.01}}, "model": {"layers": [{"filters": 4}]},
                    "data": {"image_size": [28, 28], "path": None}})  # fmt: skip
    assert flat == {"train.optimizer.learning_rate": 0.01, "model.layers.0.filters": 4,
                    "data.image_size.0": 28, "data.image_size.1": 28}  # fmt: skip


def test_unknown_tracker_is_a_config_error(cli, tmp_path):
    config = write_config(tmp_path / "c.yaml", track=["mlfow"])
    result = cli("train", config)
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {config}: track[0]: 'mlfow' is not allowed (did you mean 'mlflow'?); choose one of: mlflow"


def test_track_option_is_in_help(cli):
    for command in ("train", "finetune", "tune"):
        assert "--track [mlflow]" in cli(command, "--help").stdout


def test_importing_the_stage_imports_no_tracker_package():
    import subprocess

    code = "import sys, cnnlab.track, cnnlab.track.mlflow_tracker, cnnlab.track.hparams; " \
           "print(sorted(m for m in ('mlflow', 'tensorflow', 'sqlalchemy') if m in sys.modules))"  # fmt: skip
    done = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True,
                          env={**os.environ, "PYTHONPATH": str(Path(__file__).resolve().parents[1])})  # fmt: skip
    assert done.stdout.strip() == "[]"


class Recorder:
    title = "Recorder"

    def __init__(self, fail_at: int | None = None):
        self.calls, self.fail_at = [], fail_at

    def log_epoch(self, step, metrics, phase):
        if step == self.fail_at:
            raise OSError("disk full")
        self.calls.append((step, phase, sorted(metrics)))


def test_epochs_carry_their_phase_name_and_a_failing_tracker_is_one_note(tmp_path, capsys):
    from cnnlab.track import Tracking

    rows = []
    good, bad = Recorder(), Recorder(fail_at=2)
    tracking = Tracking(RunDir(tmp_path), [good, bad])
    callback = tracking.callback(rows, ["head", "fine_tune"])
    for epoch, phase in ((1, 1), (2, 1), (3, 2)):
        rows.append({"epoch": epoch, "loss": 1.0 / epoch, "learning_rate": 1e-3, "phase": phase})
        callback.on_epoch_end(epoch - 1)
    assert good.calls == [(1, "head", ["learning_rate", "loss", "phase"]), (2, "head", ["learning_rate", "loss", "phase"]),
                          (3, "fine_tune", ["learning_rate", "loss", "phase"])]  # fmt: skip
    assert bad.calls == [(1, "head", ["learning_rate", "loss", "phase"])] and tracking.trackers == [good]
    assert capsys.readouterr().err == "Note: Recorder tracking stopped (OSError: disk full); training goes on\n"


# ---------------------------------------------------------------- slow: real training, real store


@pytest.mark.slow
@requires_mlflow
def test_train_logs_params_epochs_test_metrics_and_files_to_mlflow(cli, tiny_config, tmp_path):
    out = tmp_path / "out"
    result = cli("train", tiny_config, "--track", "mlflow", "--output-dir", out)
    assert result.exit_code == 0, result.output
    run = Path(result.stdout.strip().splitlines()[-1].removeprefix("run saved to "))
    uri = f"sqlite:///{(out / 'mlflow.db').resolve()}"
    assert result.stderr.count(f"MLflow: tracking to {uri}") == 1
    saved = _saved(run)
    assert saved["tracking_uri"] == uri
    assert yaml.safe_load(RunDir(run).config.read_text())["track"] == ["mlflow"]  # a resume tracks again

    client = _client(out)
    mlrun = client.get_run(saved["run_id"])
    assert mlrun.info.status == "FINISHED"
    assert client.get_experiment(mlrun.info.experiment_id).name == "tiny"
    params = mlrun.data.params
    assert params["train.optimizer.learning_rate"] == "0.001" and params["model.layers.0.filters"] == "4"
    assert params["data.batch_size"] == "32" and "tune" not in params
    history = RunDir(run).read_history()
    for key in ("loss", "val_loss", "accuracy", "val_accuracy", "learning_rate"):
        points = client.get_metric_history(saved["run_id"], key)
        assert [p.step for p in points] == [1, 2]  # one per epoch, step = epoch
        assert [p.value for p in points] == pytest.approx(history[key])
    metrics = RunDir(run).read_metrics()
    assert mlrun.data.metrics["test_accuracy"] == pytest.approx(metrics["test_accuracy"])
    assert mlrun.data.metrics["test_loss"] == pytest.approx(metrics["test_loss"])
    tags = mlrun.data.tags
    assert (tags["cnnlab.run_dir"], tags["cnnlab.config"], tags["cnnlab.phase"]) == (str(run.resolve()), "tiny", "train")
    artifacts = {a.path for a in client.list_artifacts(saved["run_id"])}
    assert {"config.yaml", "metrics.json", "history.csv", "model.keras", "report.html"} <= artifacts
    # Artifacts beside the store, not in ./mlruns of the current folder.
    assert Path(mlrun.info.artifact_uri.removeprefix("file://")).is_relative_to(out.resolve())
    assert not Path("mlruns").exists()


@pytest.mark.slow
@requires_mlflow
def test_a_resumed_run_continues_its_mlflow_run(tmp_path, pattern_npz, monkeypatch, capsys):
    from cnnlab.config import load_config
    from cnnlab.train import train

    config = write_config(tmp_path / "c.yaml", data={"path": str(pattern_npz)}, track=["mlflow"],
                          train={"epochs": 3, "early_stopping": {"enabled": False}})  # fmt: skip
    out = tmp_path / "out"
    run = train_until_backup(load_config(config), out, 1, monkeypatch)
    first = _saved(run)["run_id"]
    client = _client(out)
    assert client.get_run(first).info.status == "KILLED"  # stopped, resumable

    resumed = train(load_config(RunDir(run).config), out, resume_run=run)
    assert _saved(resumed)["run_id"] == first
    experiment = client.get_experiment_by_name("tiny").experiment_id
    assert [r.info.run_id for r in client.search_runs([experiment])] == [first]  # one MLflow run
    mlrun = client.get_run(first)
    assert mlrun.info.status == "FINISHED" and "test_accuracy" in mlrun.data.metrics
    assert [p.step for p in client.get_metric_history(first, "loss")] == [1, 2, 3]
    assert "MLflow: continuing run " + first in capsys.readouterr().err


@pytest.mark.slow
def test_mlflow_missing_is_one_note_and_training_goes_on(cli, tiny_config, tmp_path, monkeypatch):
    monkeypatch.setitem(sys.modules, "mlflow", None)  # import mlflow raises ImportError
    result = cli("train", tiny_config, "--track", "mlflow", "--output-dir", tmp_path / "out", "--no-report")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith("Note:")]
    assert notes == ["Note: no MLflow tracking: the Python package 'mlflow' is not installed; "
                     "pip install 'cnnlab[mlflow]'; training goes on"]  # fmt: skip
    run = Path(result.stdout.strip().splitlines()[-1].removeprefix("run saved to "))
    assert RunDir(run).read_status()["state"] == "done" and not (run / TRACKING_FILE).exists()


@pytest.mark.slow
@requires_mlflow
def test_mlflow_tracking_uri_is_honoured(cli, tiny_config, tmp_path, monkeypatch):
    store = tmp_path / "elsewhere" / "team.db"
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{store}")
    result = cli("train", tiny_config, "--output-dir", tmp_path / "out", "--no-report", "--set", "track=[mlflow]")
    assert result.exit_code == 0, result.output
    assert f"MLflow: tracking to sqlite:///{store}\n" in result.stderr
    assert not (tmp_path / "out" / "mlflow.db").exists()
    from mlflow import MlflowClient

    run = Path(result.stdout.strip().splitlines()[-1].removeprefix("run saved to "))
    mlrun = MlflowClient(tracking_uri=f"sqlite:///{store}").get_run(_saved(run)["run_id"])
    assert mlrun.info.status == "FINISHED" and mlrun.data.metrics["test_accuracy"] >= 0
    assert Path(mlrun.info.artifact_uri.removeprefix("file://")).is_relative_to(store.parent)  # beside the store


@pytest.mark.slow
@requires_mlflow
def test_an_unwritable_store_is_one_note_and_training_goes_on(cli, tiny_config, tmp_path, monkeypatch):
    blocker = tmp_path / "a-file"
    blocker.write_text("not a folder")
    monkeypatch.setenv("MLFLOW_TRACKING_URI", f"sqlite:///{blocker}/mlflow.db")
    result = cli("train", tiny_config, "--track", "mlflow", "--output-dir", tmp_path / "out", "--no-report")
    assert result.exit_code == 0, result.output
    notes = [line for line in result.stderr.splitlines() if line.startswith("Note:")]
    assert len(notes) == 1 and notes[0].startswith("Note: no MLflow tracking: ") and notes[0].endswith("training goes on")


@pytest.mark.slow
@requires_mlflow
def test_tune_tracks_every_trial_and_declares_its_space_for_tensorboard(cli, tmp_path, pattern_npz):
    """TensorBoard's own event reader finds the search's HParams experiment (the tune:
    space as domains) and one session per trial with its values and test metrics."""
    pytest.importorskip("keras_tuner", reason="the tune extra is not installed: pip install 'cnnlab[tune]'")
    from tensorboard.backend.event_processing import plugin_event_multiplexer
    from tensorboard.plugins.hparams import api_pb2, metadata
    from tensorboard.util import tensor_util

    space = {"train.optimizer.learning_rate": {"log_uniform": [1e-3, 1e-2]}, "model.layers.0.filters": [2, 4],
             "data.batch_size": {"int": [16, 32]}}  # fmt: skip
    section = {"oracle": "random", "trials": 2, "objective": "val_accuracy", "space": space}
    config = write_config(tmp_path / "t.yaml", data={"path": str(pattern_npz)}, train={"epochs": 1, "tensorboard": True},
                          tune=section, track=["mlflow"])  # fmt: skip
    out = tmp_path / "out"
    result = cli("tune", config, "--output-dir", out)
    assert result.exit_code == 0, result.output
    trials = sorted(p for p in (out / "tiny").iterdir() if RunDir(p).config.is_file())
    assert len(trials) == 2

    # MLflow: one run per trial, each with the trial's own values.
    client = _client(out)
    for trial in trials:
        params = client.get_run(_saved(trial)["run_id"]).data.params
        values = yaml.safe_load(RunDir(trial).config.read_text())
        assert params["model.layers.0.filters"] == str(values["model"]["layers"][0]["filters"])

    mux = plugin_event_multiplexer.EventMultiplexer()
    mux.AddRunsFromDirectory(str(out / "tiny"))
    mux.Reload()
    content = mux.PluginRunToTagToContent(metadata.PLUGIN_NAME)
    experiments = [tags[metadata.EXPERIMENT_TAG] for tags in content.values() if metadata.EXPERIMENT_TAG in tags]
    assert len(experiments) == 1
    experiment = metadata.parse_experiment_plugin_data(experiments[0])
    domains = {h.name: h for h in experiment.hparam_infos}
    assert set(domains) == set(space)
    lr = domains["train.optimizer.learning_rate"]
    assert (lr.domain_interval.min_value, lr.domain_interval.max_value) == (1e-3, 1e-2)
    assert [v.number_value for v in domains["model.layers.0.filters"].domain_discrete.values] == [2, 4]
    assert domains["data.batch_size"].type == api_pb2.DATA_TYPE_FLOAT64
    metric_tags = {(m.name.tag, m.name.group) for m in experiment.metric_infos}
    assert {("test_accuracy", ""), ("epoch_accuracy", "validation")} <= metric_tags

    sessions = {run: metadata.parse_session_start_info_plugin_data(tags[metadata.SESSION_START_INFO_TAG])
                for run, tags in content.items() if metadata.SESSION_START_INFO_TAG in tags}  # fmt: skip
    assert sorted(sessions) == sorted(f"{t.name}/tensorboard" for t in trials)
    for trial in trials:
        session = sessions[f"{trial.name}/tensorboard"]
        values = yaml.safe_load(RunDir(trial).config.read_text())
        assert session.hparams["model.layers.0.filters"].number_value == values["model"]["layers"][0]["filters"]
        test_accuracy = mux.Tensors(f"{trial.name}/tensorboard", "test_accuracy")
        assert len(test_accuracy) == 1
        value = float(tensor_util.make_ndarray(test_accuracy[0].tensor_proto))
        assert value == pytest.approx(RunDir(trial).read_metrics()["test_accuracy"])
