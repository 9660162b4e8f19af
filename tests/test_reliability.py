"""Reliability (issue 7): interrupted training resumes with nothing lost, and every bad
input or fault ends in a clear error. Subprocess tests send real signals to a real
``cnnlab train``; the rest drive the CLI in-process."""

from __future__ import annotations

import csv
import json
import math
import os
import resource
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from cnnlab.train import signals
from tests.conftest import CONFIGS, REPO, make_pattern_dataset, requires_fashion, write_config

# Fashion-MNIST subset: 1,600 train / 400 validation / 2,000 test images, ~1 s an epoch.
# float32 on every CPU, as tests/conftest.py's configs (auto would be bfloat16 on AMX/AVX512_BF16)
FASHION_SETS = ["data.limit=2000", "train.epochs=4", "train.verbose=0", "train.tensorboard=false",
                "train.mixed_precision=false"]  # fmt: skip
TIMEOUT = 180


@pytest.fixture(autouse=True)
def no_stop_request():
    signals.request_stop(None)
    yield
    signals.request_stop(None)


def start_cnnlab(*args, **popen) -> subprocess.Popen:
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "CNNLAB_OFFLINE": "1", "PYTHONPATH": str(REPO)}
    cmd = [sys.executable, "-m", "cnnlab", *map(str, args)]
    return subprocess.Popen(cmd, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, **popen)


def wait_until_epoch_saved(proc: subprocess.Popen, out: Path, epoch: int) -> Path:
    """Poll until status.json says ``epoch`` is backed up (the guard writes it after the
    backup; it carries the pid), and return the run directory."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        for path in out.glob("*/*/status.json"):
            try:
                status = json.loads(path.read_text())
            except ValueError:
                continue  # never happens with atomic writes, but do not let a test hang on it
            if status.get("epoch", 0) >= epoch and "pid" in status:
                return path.parent
        if proc.poll() is not None:
            pytest.fail(f"cnnlab exited early ({proc.returncode}): {proc.communicate()[1][-2000:]}")
        time.sleep(0.01)
    proc.kill()
    pytest.fail("training did not reach the epoch in time")


def error_lines(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.startswith("Error:")]


def status_of(run: Path) -> dict:
    return json.loads((run / "status.json").read_text())


def history_rows(run: Path) -> list[dict]:
    with open(run / "history.csv", newline="") as f:
        return list(csv.DictReader(f))


def model_weights(path: Path) -> list[np.ndarray]:
    from cnnlab.runs import load_model

    return load_model(path).get_weights()


# ---------------------------------------------------------------- interrupt and resume


@requires_fashion
def test_sigterm_in_epoch_2_then_resume_ends_bit_exact_like_an_uninterrupted_run(cli, tmp_path):
    out = tmp_path / "out"
    proc = start_cnnlab("train", CONFIGS / "fashion.yaml", *(f"--set={s}" for s in FASHION_SETS), "--output-dir", out)
    run = wait_until_epoch_saved(proc, out, 1)
    time.sleep(0.2)  # out of epoch 1's last callback and into epoch 2 (50 batches, 0.4 s at the very least)
    proc.send_signal(signal.SIGTERM)
    _, stderr = proc.communicate(timeout=TIMEOUT)

    assert proc.returncode == 143
    hint = f"cnnlab train --resume {run}"
    assert error_lines(stderr) == [
        f"Error: interrupted by SIGTERM during epoch 2 of 4; epoch 1 saved, best model so far (epoch 1) "
        f"in {run}/model.keras; resume with: {hint}"
    ]
    status = status_of(run)
    assert (status["state"], status["epoch"], status["resume"]) == ("interrupted", 1, hint)
    assert [r["epoch"] for r in history_rows(run)] == ["1"]
    assert (run / "model.keras").is_file() and (run / "backup" / "state.npz").is_file()

    resumed = cli("train", "--resume", run, "--no-report")
    assert resumed.exit_code == 0, resumed.output
    assert f"run saved to {run}" in resumed.stdout
    rows = history_rows(run)
    assert [r["epoch"] for r in rows] == ["1", "2", "3", "4"]  # appended, no duplicate
    assert status_of(run) == {"state": "done", "epoch": 4}
    assert not (run / "backup").exists()
    metrics = json.loads((run / "metrics.json").read_text())
    assert {"test_accuracy", "test_loss", "train_seconds", "best_epoch"} <= set(metrics)
    # data.limit=2000 with fashion.yaml's 20 % validation: 1,600 images an epoch, in float32 as set
    assert (metrics["train_images"], metrics["precision"]) == (1600, "float32")
    assert (run / "plots" / "history.png").is_file()

    # The same config and seed, never interrupted: the same numbers, bit for bit.
    reference = cli("train", CONFIGS / "fashion.yaml", *(f"--set={s}" for s in FASHION_SETS), "--no-report",
                    "--output-dir", tmp_path / "ref")  # fmt: skip
    assert reference.exit_code == 0, reference.output
    ref_run = next((tmp_path / "ref" / "fashion").iterdir())
    ref_rows = history_rows(ref_run)
    timing = {"epoch_seconds"}
    assert [{k: v for k, v in r.items() if k not in timing} for r in rows] == [
        {k: v for k, v in r.items() if k not in timing} for r in ref_rows
    ]
    for resumed_w, ref_w in zip(model_weights(run / "model.keras"), model_weights(ref_run / "model.keras"), strict=True):
        np.testing.assert_array_equal(resumed_w, ref_w)
    ref_metrics = json.loads((ref_run / "metrics.json").read_text())
    assert metrics["test_accuracy"] == ref_metrics["test_accuracy"]
    assert metrics["best_epoch"] == ref_metrics["best_epoch"]


# Two-phase fine-tuning: 2 epochs of the head on a frozen MobileNetV2 (random weights:
# no download), then 2 epochs with its top unfrozen at a low learning rate.
FINETUNE_ARGS = ["--backbone", "mobilenetv2", "--weights", "none", "--set=data.limit=600", "--set=train.epochs=2",
                 "--set=finetune.epochs=2", "--set=train.verbose=0"]  # fmt: skip


@requires_fashion
def test_fine_tune_interrupted_at_the_phase_boundary_and_in_phase_2_resumes_bit_exact(cli, tmp_path):
    out = tmp_path / "out"
    first = start_cnnlab("finetune", *FINETUNE_ARGS, "--output-dir", out, cwd=REPO)
    run = wait_until_epoch_saved(first, out, 2)  # phase 1 (the head) is done
    first.send_signal(signal.SIGTERM)
    _, stderr = first.communicate(timeout=TIMEOUT)
    assert first.returncode == 143
    assert error_lines(stderr)[0].startswith("Error: interrupted by SIGTERM")
    assert " of 4 (phase " in error_lines(stderr)[0]  # the run's whole length, whichever phase it was in
    assert (status_of(run)["state"], status_of(run)["epoch"]) == ("interrupted", 2)

    # Resume: phase 1 is skipped, phase 2 begins; Ctrl-C it in its second epoch.
    second = start_cnnlab("train", "--resume", run)
    deadline = time.monotonic() + TIMEOUT
    while not (status_of(run).get("pid") == second.pid and status_of(run)["epoch"] >= 3):
        assert second.poll() is None and time.monotonic() < deadline, second.communicate()[1][-2000:]
        time.sleep(0.01)
    time.sleep(0.2)  # into epoch 4 (8 MobileNetV2 batches: over a second)
    second.send_signal(signal.SIGINT)
    _, stderr = second.communicate(timeout=TIMEOUT)
    assert second.returncode == 130
    val_losses = [float(r["val_loss"]) for r in history_rows(run)]
    assert error_lines(stderr) == [
        f"Error: interrupted by Ctrl-C during epoch 4 of 4 (phase 2 of 2); epochs 1-3 saved, best model so far "
        f"(epoch {1 + val_losses.index(min(val_losses))}) in {run}/model.keras; resume with: cnnlab train --resume {run}"
    ]
    status = status_of(run)
    assert (status["state"], status["epoch"], status["phase"]) == ("interrupted", 3, 2)

    resumed = cli("train", "--resume", run, "--no-report")
    assert resumed.exit_code == 0, resumed.output
    rows = history_rows(run)
    assert [(r["epoch"], r["phase"]) for r in rows] == [("1", "1"), ("2", "1"), ("3", "2"), ("4", "2")]

    reference = cli("finetune", *FINETUNE_ARGS, "--no-report", "--output-dir", tmp_path / "ref")
    assert reference.exit_code == 0, reference.output
    ref_run = next((tmp_path / "ref" / "finetune").iterdir())
    timing = {"epoch_seconds"}
    assert [{k: v for k, v in r.items() if k not in timing} for r in rows] == [
        {k: v for k, v in r.items() if k not in timing} for r in history_rows(ref_run)
    ]
    for resumed_w, ref_w in zip(model_weights(run / "model.keras"), model_weights(ref_run / "model.keras"), strict=True):
        np.testing.assert_array_equal(resumed_w, ref_w)
    metrics, ref_metrics = (json.loads((r / "metrics.json").read_text()) for r in (run, ref_run))
    assert (metrics["test_accuracy"], metrics["best_epoch"]) == (ref_metrics["test_accuracy"], ref_metrics["best_epoch"])


@pytest.fixture
def slow_pattern_config(tmp_path) -> Path:
    """The tiny model on 4,000 pattern images: epochs long enough (~0.5 s) to be
    interrupted in the middle. Early stopping with min_delta 10 stops after epoch 2:
    no later epoch can improve val_loss by 10."""
    x_train, y_train = make_pattern_dataset(4000, seed=1)
    x_test, y_test = make_pattern_dataset(60, seed=2)
    np.savez(tmp_path / "p.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return write_config(
        tmp_path / "slow.yaml",
        data={"path": str(tmp_path / "p.npz")},
        train={"epochs": 10, "verbose": 0, "tensorboard": False,
               "early_stopping": {"enabled": True, "patience": 0, "min_delta": 10.0}},
    )  # fmt: skip


def test_killed_run_resumes_by_default_and_early_stopping_state_survives(cli, slow_pattern_config, tmp_path):
    out = tmp_path / "out"
    proc = start_cnnlab("train", slow_pattern_config, "--output-dir", out)
    run = wait_until_epoch_saved(proc, out, 1)
    proc.kill()  # SIGKILL: no handler runs, like a power cut or an OOM kill
    proc.wait(timeout=TIMEOUT)
    assert status_of(run)["state"] == "running"  # stale: its process is gone

    result = cli("train", "--resume", "--no-report", "--output-dir", out)  # default: the newest interrupted run
    assert result.exit_code == 0, result.output
    assert f"resuming {run} after epoch 1" in result.stderr
    # Early stopping remembered epoch 1's val_loss and its patience: it stops after
    # epoch 2, as the uninterrupted run does (a reset stopper would train a 3rd epoch).
    assert [r["epoch"] for r in history_rows(run)] == ["1", "2"]
    assert status_of(run) == {"state": "done", "epoch": 2}
    val_losses = [float(r["val_loss"]) for r in history_rows(run)]
    assert json.loads((run / "metrics.json").read_text())["best_epoch"] == 1 + val_losses.index(min(val_losses))


def test_resume_refuses_a_changed_config_and_does_nothing_for_a_done_run(cli, tiny_config, tmp_path):
    from cnnlab.config import load_config
    from cnnlab.errors import TrainingInterrupted
    from cnnlab.train import train

    out = tmp_path / "out"
    signals.request_stop(signal.SIGTERM)  # arrives while the data loads: stop before epoch 1
    with pytest.raises(TrainingInterrupted) as info:
        train(load_config(tiny_config), out)
    signals.request_stop(None)
    run = next((out / "tiny").iterdir())
    assert info.value.exit_code == 143
    assert str(info.value) == (
        f"interrupted by SIGTERM during epoch 1 of 2; no epoch had finished, so nothing was saved yet; "
        f"resume with: cnnlab train --resume {run}"
    )
    assert status_of(run)["state"] == "interrupted" and status_of(run)["epoch"] == 0

    changed = cli("train", tiny_config, "--set", "train.epochs=5", "--resume", run)
    assert changed.exit_code == 2
    assert error_lines(changed.stderr) == [
        f"Error: --resume continues {run} with its own config, but yours differs at train.epochs; "
        "drop CONFIG and --set to resume, or train a new run with the new config"
    ]
    # the same config is fine, with steps per call changed too (it changes no number)
    same = cli("train", tiny_config, "--set", "train.steps_per_execution=1", "--resume", run, "--no-report")
    assert same.exit_code == 0, same.output
    assert [r["epoch"] for r in history_rows(run)] == ["1", "2"]

    before = {p: p.stat().st_mtime_ns for p in run.rglob("*")}
    again = cli("train", "--resume", run)
    assert again.exit_code == 0
    assert again.stdout.strip() == f"{run} is already done (2 epochs); nothing to resume"
    assert {p: p.stat().st_mtime_ns for p in run.rglob("*")} == before

    not_a_run = cli("train", "--resume", tiny_config)
    assert not_a_run.exit_code == 1
    assert error_lines(not_a_run.stderr) == [
        f"Error: {tiny_config} is not a run directory (no config.yaml); pass outputs/<name>/<stamp> to --resume"
    ]


# ---------------------------------------------------------------- NaN loss


@pytest.mark.parametrize(
    "poison, steps_per_call, what",
    [
        ("labels", "1", ["loss became nan at epoch 2, batch 3"]),
        # 8 batches per call into TensorFlow (auto): the loss is seen once per call
        ("labels", "auto", ["loss became nan at epoch 2, in batches 1-8"]),
        # 9 batches an epoch (validation 10 %): the second call's last index (15) runs past
        # the epoch's end, and the once-an-epoch weight check must still run
        ("pixels", "auto", ["weights became NaN or infinite during epoch 2 (the loss stayed finite)",
                            "loss became nan at epoch 2, in batches 1-8"]),
        # NaN pixels: where the CPU kernels turn NaN into 0 in ReLU, the loss stays finite
        # while the weights are NaN, and the per-epoch weight check catches it before
        # validation; where they keep NaN, the loss check stops at the batch. Which one
        # a machine does varies (both seen on the same TF build), so either stop is right.
        ("pixels", "1", ["weights became NaN or infinite during epoch 2 (the loss stayed finite)",
                         "loss became nan at epoch 2, batch 3"]),
    ],
)
def test_nan_stops_with_status_failed_and_keeps_the_best_model(cli, tiny_config, tmp_path, monkeypatch, poison,
                                                               steps_per_call, what):  # fmt: skip
    """A poisoned batch (epoch 2, batch 3) in the real training loop."""
    import cnnlab.data.pipeline as pipeline_module  # fit_pipelines makes the training batches here
    from cnnlab.backend import keras

    real_pipeline = pipeline_module.make_pipeline

    class Poisoned(keras().utils.PyDataset):
        def __init__(self, x, y, batch_size):
            super().__init__()
            self.x, self.y, self.batch_size = x.astype("float32"), y.astype("float32"), batch_size
            self.requests = {}

        def __len__(self):
            return math.ceil(len(self.x) / self.batch_size)

        def __getitem__(self, i):
            self.requests[i] = self.requests.get(i, 0) + 1
            part = slice(i * self.batch_size, (i + 1) * self.batch_size)
            x, y = self.x[part].copy(), np.eye(3, dtype="float32")[self.y[part].astype(int)]
            if i == 2 and self.requests[i] == 2:  # the second time batch 3 comes: epoch 2
                (y if poison == "labels" else x)[:] = np.nan
            return x, y

    def pipeline(x, y, batch_size, *, shuffle, seed, one_hot=0):
        if shuffle:
            return Poisoned(x, y, batch_size)
        return real_pipeline(x, y, batch_size, shuffle=shuffle, seed=seed, one_hot=one_hot)

    monkeypatch.setattr(pipeline_module, "make_pipeline", pipeline)
    out = tmp_path / "out"
    result = cli("train", tiny_config, "--set", "train.epochs=4", "--set", "train.loss=categorical_crossentropy",
                 "--set", f"train.steps_per_execution={steps_per_call}", "--output-dir", out,
                 *(["--set", "data.validation_split=0.1"] if steps_per_call == "auto" else []))  # fmt: skip
    run = next((out / "tiny").iterdir())
    assert result.exit_code == 1
    assert error_lines(result.stderr) in [[
        f"Error: {stop}; training stopped, epoch 1 saved, best model so far (epoch 1) in {run}/model.keras; "
        "lower train.optimizer.learning_rate (e.g. --set train.optimizer.learning_rate=0.0001) and train again "
        "(or check the data for broken values)"
    ] for stop in what]
    status = status_of(run)
    assert (status["state"], status["epoch"]) == ("failed", 1)
    assert [r["epoch"] for r in history_rows(run)] == ["1"]  # no NaN row
    assert all(np.isfinite(w).all() for w in model_weights(run / "model.keras"))
    refused = cli("train", "--resume", run)  # it would diverge again, bit for bit
    assert refused.exit_code == 1
    assert error_lines(refused.stderr) == [
        f"Error: {run} failed because its loss or weights became NaN, and resuming repeats it exactly; "
        "train a new run with a lower learning rate (its best model so far stays in the run)"
    ]


# ---------------------------------------------------------------- disks and directories


def test_output_dir_under_a_file_fails_before_training(cli, tiny_config, tmp_path):
    blocker = tmp_path / "file"
    blocker.write_text("not a folder")
    result = cli("train", tiny_config, "--output-dir", blocker / "out")
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        f"Error: output directory '{blocker / 'out'}' is under a file ({blocker}); choose another --output-dir"
    ]
    assert blocker.read_text() == "not a folder"


def test_nearly_full_disk_fails_before_training(cli, tiny_config, tmp_path, monkeypatch):
    import shutil

    from cnnlab.runs import find

    real = shutil.disk_usage
    monkeypatch.setattr(find.shutil, "disk_usage", lambda p: real(p)._replace(free=10 * 2**20))  # 10 MB left
    result = cli("train", tiny_config, "--output-dir", tmp_path / "out")
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        f"Error: only 10 MB free under '{tmp_path}'; a run needs at least 50 MB for its model and backups; "
        "free some space or choose another --output-dir"
    ]
    assert not (tmp_path / "out").exists()


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into any directory whatever its permissions")
def test_read_only_output_dir_fails_before_training(cli, tiny_config, tmp_path):
    locked = tmp_path / "locked"
    locked.mkdir(mode=0o555)
    result = cli("train", tiny_config, "--output-dir", locked)
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        f"Error: output directory '{locked}' is not writable; choose another --output-dir or fix its permissions"
    ]
    assert not any(locked.iterdir())


def _limit_file_size():
    # Files may not grow past 100 KB: model.keras (126 KB) cannot be written, as on a full disk.
    resource.setrlimit(resource.RLIMIT_FSIZE, (100_000, 100_000))
    signal.signal(signal.SIGXFSZ, signal.SIG_IGN)  # fail the write with EFBIG instead of dying


def test_full_disk_leaves_no_half_written_file_and_the_run_resumes(cli, tiny_config, tmp_path):
    out = tmp_path / "out"
    proc = start_cnnlab("train", tiny_config, "--output-dir", out, preexec_fn=_limit_file_size)
    _, stderr = proc.communicate(timeout=TIMEOUT)
    run = next((out / "tiny").iterdir())
    assert proc.returncode == 1
    [line] = error_lines(stderr)
    assert line.startswith(f"Error: cannot write {run}/")
    assert line.endswith(
        "File too large; no epoch had finished, so nothing was saved yet; free some space (or fix permissions), "
        f"then resume with: cnnlab train --resume {run}"
    )
    assert status_of(run)["state"] == "failed"
    assert not (run / "model.keras").exists()
    assert sorted(p.name for p in run.rglob(".*")) == []  # no temporary file left behind

    resumed = cli("train", "--resume", run, "--no-report")  # space is free again
    assert resumed.exit_code == 0, resumed.output
    assert status_of(run) == {"state": "done", "epoch": 2}
    assert model_weights(run / "model.keras")


# ---------------------------------------------------------------- image folders


def _image_folder(root: Path, classes=("a", "b", "c"), per_class=8) -> Path:
    x, y = make_pattern_dataset(per_class * 6, seed=3)
    for c, name in enumerate(classes):
        (root / name).mkdir(parents=True)
        for i, image in enumerate(x[y == c][:per_class]):
            Image.fromarray(image[..., 0]).save(root / name / f"{i}.png")
    return root


def test_image_folder_with_broken_files_trains_and_warns_once(cli, tmp_path):
    root = _image_folder(tmp_path / "images")
    good = root / "a" / "0.png"
    Image.open(good).convert("RGB").save(root / "a" / "photo.jpg", quality=90)
    (root / "a" / "broken.jpg").write_bytes((root / "a" / "photo.jpg").read_bytes()[:200])  # truncated JPEG
    (root / "b" / "notes.txt").write_text("not an image")
    (root / "c" / ".DS_Store").write_bytes(b"\x00\x00\x00\x01Bud1")
    config = write_config(tmp_path / "dir.yaml", data={"source": "directory", "path": str(root),
                          "image_size": [28, 28], "color_mode": "grayscale", "validation_split": 0.2},
                          train={"epochs": 1, "verbose": 0, "tensorboard": False})  # fmt: skip
    result = cli("train", config, "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    warnings = [line for line in result.stderr.splitlines() if line.startswith("Warning:")]
    assert warnings == [f"Warning: skipped 2 unreadable or non-image file(s) under {root}: broken.jpg, notes.txt"]


def test_image_folder_without_images_names_the_folder(cli, tmp_path):
    root = _image_folder(tmp_path / "images", classes=("a", "b"))
    (root / "empty").mkdir()
    (root / "empty" / "readme.txt").write_text("no pictures here")
    config = write_config(tmp_path / "dir.yaml", data={"source": "directory", "path": str(root), "image_size": [28, 28]})
    result = cli("train", config, "--output-dir", tmp_path / "out")
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        f"Error: class folder {root / 'empty'} holds no readable images; add PNG/JPEG files or remove it"
    ]
    bare = tmp_path / "bare"
    bare.mkdir()
    (bare / "x.txt").write_text("")
    config = write_config(tmp_path / "bare.yaml", data={"source": "directory", "path": str(bare)})
    result = cli("train", config, "--output-dir", tmp_path / "out")
    assert result.exit_code == 1
    assert error_lines(result.stderr) == [
        f"Error: {bare} has no class sub-folders; put each class's images in a folder of its own"
    ]


# ---------------------------------------------------------------- unsafe models


def test_lambda_model_is_refused_without_unsafe_and_loads_with_it(cli, tmp_path):
    from cnnlab.backend import keras

    k = keras()
    inputs = k.Input(shape=(28, 28, 1))
    x = k.layers.Lambda(lambda t: t / 255.0)(inputs)  # arbitrary Python code in the file
    outputs = k.layers.Dense(3, activation="softmax")(k.layers.Flatten()(x))
    path = tmp_path / "lambda.keras"
    k.Model(inputs, outputs).save(path)
    image = tmp_path / "shoe.png"
    Image.fromarray(np.full((28, 28), 200, np.uint8)).save(image)

    for command in (["predict", path, image], ["evaluate", path]):
        refused = cli(*command)
        assert refused.exit_code == 1
        assert error_lines(refused.stderr) == [
            f"Error: {path} contains a Lambda layer (arbitrary Python code), refused in safe mode; "
            "pass --unsafe only if you trust this file"
        ]
    allowed = cli("predict", "--unsafe", path, image)
    assert allowed.exit_code == 0, allowed.output
    assert allowed.stdout.startswith(f"{image}: ")
