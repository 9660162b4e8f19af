"""Image folders streamed from disk (issue 18): the same split, batches and accuracy as
in memory; broken files skipped; the disk cache reused and invalidated. Peak memory is
measured by benchmarks/stream_benchmark.py, not here."""

from __future__ import annotations

import json
import os
from pathlib import Path

import numpy as np
import pytest

from cnnlab.config.schema import DataConfig
from cnnlab.data import FileSplit, load_dataset
from cnnlab.data.pipeline import make_pipeline
from tests.conftest import write_config


def make_folder(root: Path, per_class: int = 60, classes: int = 3, size: int = 20) -> Path:
    """Tiny PNG/JPEG images whose brightness band and stripe say the class (learnable)."""
    from PIL import Image

    rng = np.random.default_rng(0)
    for c in range(classes):
        folder = root / f"class{c}"
        folder.mkdir(parents=True)
        for i in range(per_class):
            image = (rng.random((size, size, 3)) * 60 + c * 90).astype(np.uint8)
            image[:, c * 5 : c * 5 + 3] = 255
            Image.fromarray(image).save(folder / f"{i:03d}.{'png' if i % 2 else 'jpg'}", quality=95)
    return root


def add_broken_files(root: Path) -> None:
    jpeg = (root / "class1" / "000.jpg").read_bytes()
    (root / "class1" / "truncated.jpg").write_bytes(jpeg[: len(jpeg) // 2])
    (root / "class0" / "readme.txt").write_text("not an image")


def folder_cfg(root: Path, cache: str, **extra) -> DataConfig:
    return DataConfig(source="directory", path=str(root), image_size=(16, 16), cache=cache, **extra)


def test_streamed_split_and_batches_match_memory(tmp_path, capsys):
    root = make_folder(tmp_path / "imgs", per_class=20)
    add_broken_files(root)
    memory = load_dataset(folder_cfg(root, "memory"), seed=3)
    assert "skipped 2 unreadable or non-image file(s)" in capsys.readouterr().err
    load_dataset(folder_cfg(root, "none"), seed=3)
    assert capsys.readouterr().err == ""  # one warning per folder and process
    from cnnlab.data import directory

    directory._WARNED.clear()  # as in a new process: streaming warns the same way
    streamed = load_dataset(folder_cfg(root, "none"), seed=3)
    warning = capsys.readouterr().err.strip().splitlines()
    assert len(warning) == 1 and warning[0].startswith("Warning: skipped 2 unreadable or non-image file(s)")
    assert "truncated.jpg" in warning[0] and "readme.txt" in warning[0]

    assert isinstance(streamed.x_train, FileSplit) and isinstance(memory.x_train, np.ndarray)
    assert streamed.input_shape == memory.input_shape == (16, 16, 3)
    for name in ("y_train", "y_val", "y_test"):
        assert np.array_equal(getattr(streamed, name), getattr(memory, name))
    assert np.array_equal(np.asarray(streamed.x_test), memory.x_test)
    assert np.array_equal(streamed.x_test[2], memory.x_test[2]) and streamed.x_test[:5].shape == (5, 16, 16, 3)

    # Same shuffled order, epoch after epoch (reshuffle_each_iteration, seeded).
    pipes = [make_pipeline(d.x_train, d.y_train, 8, shuffle=True, seed=5, one_hot=3) for d in (memory, streamed)]
    for _ in range(2):
        for (xa, ya), (xb, yb) in zip(*pipes, strict=True):
            assert np.array_equal(xa.numpy(), xb.numpy()) and np.array_equal(ya.numpy(), yb.numpy())


def test_file_broken_after_the_check_reads_black_and_training_goes_on(tmp_path, capsys):
    root = make_folder(tmp_path / "imgs", per_class=5, classes=2)
    data = load_dataset(folder_cfg(root, "none", validation_split=0.0), seed=0)
    victim = data.x_train.paths[1]
    Path(victim).write_bytes(b"gone bad")
    batches = list(make_pipeline(data.x_train, data.y_train, 4, shuffle=False, seed=0))
    assert sum(len(b[1]) for b in batches) == len(data.x_train)
    assert not batches[0][0].numpy()[1].any()
    assert f"Warning: {victim}: " in capsys.readouterr().err


def test_disk_cache_reused_and_invalidated_on_change(tmp_path):
    from PIL import Image

    root = make_folder(tmp_path / "imgs", per_class=10, classes=2)
    cache = tmp_path / "cache"
    cfg = folder_cfg(root, "disk", cache_dir=str(cache))
    first = load_dataset(cfg, seed=0)
    files = sorted(cache.glob("*.cache"))
    assert len(files) == 2  # train and test
    stamps = {f: f.stat().st_mtime_ns for f in files}
    second = load_dataset(cfg, seed=0)
    assert sorted(cache.glob("*.cache")) == files and all(f.stat().st_mtime_ns == stamps[f] for f in files)
    assert np.array_equal(np.asarray(second.x_train), np.asarray(first.x_train))
    memory = load_dataset(folder_cfg(root, "memory"), seed=0)
    assert np.array_equal(np.asarray(first.x_val), memory.x_val)

    changed = Path(first.x_train.paths[0])
    Image.new("RGB", (20, 20), (255, 0, 0)).save(changed, format="PNG" if changed.suffix == ".png" else "JPEG")
    os.utime(changed, ns=(changed.stat().st_atime_ns, changed.stat().st_mtime_ns + 10**9))
    third = load_dataset(cfg, seed=0)
    assert len(list(cache.glob("*.cache"))) == 3  # the train split's file list changed: a new cache file
    row = third.x_train.paths.index(str(changed))
    assert third.x_train[row][..., 0].mean() > 200 and third.x_train[row][..., 2].mean() < 50


def test_auto_cache_keeps_small_folders_in_memory(tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=4, classes=2)
    assert isinstance(load_dataset(folder_cfg(root, "auto"), seed=0).x_train, np.ndarray)


def test_shard_hook_splits_files_between_workers(tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=5, classes=2)
    split = load_dataset(folder_cfg(root, "none", validation_split=0.0), seed=0).x_train
    shards = [split.shard(3, i) for i in range(3)]
    assert sorted(p for s in shards for p in s.paths) == sorted(split.paths)


def test_bad_cache_value_is_one_error_line(cli, tmp_path):
    root = make_folder(tmp_path / "imgs", per_class=4, classes=2)
    cfg = write_config(tmp_path / "c.yaml", data={"source": "directory", "path": str(root)})
    result = cli("train", cfg, "--set", "data.cache=ram")
    assert result.exit_code == 2
    assert result.output.startswith("Error: --set data.cache=ram: data.cache:")
    assert "none" in result.output and "disk" in result.output


@pytest.mark.slow
def test_training_streamed_equals_in_memory(cli, tmp_path):
    """The same run on the same folder: same split, same accuracy, streamed or in memory."""
    root = make_folder(tmp_path / "imgs", per_class=100)
    metrics = {}
    for cache in ("memory", "none"):
        cfg = write_config(
            tmp_path / f"{cache}.yaml",
            data={"source": "directory", "path": str(root), "image_size": [16, 16], "cache": cache},
            train={"epochs": 2, "verbose": 0, "tensorboard": False, "early_stopping": {"enabled": False}},
        )
        result = cli("train", cfg, "--no-report", "--output-dir", tmp_path / cache)
        assert result.exit_code == 0, result.output
        run = next((tmp_path / cache / "tiny").iterdir())
        metrics[cache] = json.loads((run / "metrics.json").read_text())
    # The streamed run's test split is read in batches (evaluate) or image by image (visualize).
    result = cli("evaluate", run)
    assert result.exit_code == 0, result.output
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] == metrics["none"]["test_accuracy"]
    result = cli("visualize", run, "--layer", "conv2d", "--kind", "feature-maps,stats", "--index", "3")
    assert result.exit_code == 0, result.output
    memory, streamed = metrics["memory"], metrics["none"]
    assert np.array_equal(np.array(memory["confusion_matrix"]).sum(1), np.array(streamed["confusion_matrix"]).sum(1))
    assert abs(memory["test_accuracy"] - streamed["test_accuracy"]) <= 0.05
    assert streamed["test_accuracy"] > 0.6


@pytest.mark.slow
def test_tta_views_read_a_streamed_test_split(cli, tmp_path):
    """A model trained with flips and shifts on a streamed folder: its evaluation moves and
    mirrors the test images slice by slice (a FileSplit is not an array), after training and
    in evaluate."""
    root = make_folder(tmp_path / "imgs", per_class=30)
    cfg = write_config(
        tmp_path / "f.yaml",
        data={"source": "directory", "path": str(root), "image_size": [16, 16], "cache": "none"},
        train={"epochs": 1, "verbose": 0, "tensorboard": False},
        augment={"horizontal_flip": True, "height_shift_range": 0.1},
    )
    result = cli("train", cfg, "--no-report", "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "out" / "tiny").iterdir())
    trained = json.loads((run / "metrics.json").read_text())
    assert 0.0 <= trained["test_accuracy_tta"] <= 1.0 and len(trained["tta_views"]) == 6
    assert "with TTA (the mean over 6 views" in result.stdout
    assert cli("evaluate", run).exit_code == 0
    assert json.loads((run / "metrics.json").read_text())["test_accuracy_tta"] == trained["test_accuracy_tta"]


@pytest.mark.slow
def test_streamed_run_interrupted_then_resumed_is_bit_exact(cli, tmp_path):
    """The streamed pipeline keeps the seeded reshuffle that --resume replays."""
    import signal

    from tests.test_reliability import (
        history_rows,
        model_weights,
        start_cnnlab,
        wait_until_epoch_saved,
    )

    root = make_folder(tmp_path / "imgs", per_class=60)
    cfg = write_config(
        tmp_path / "s.yaml",
        data={"source": "directory", "path": str(root), "image_size": [16, 16], "cache": "none", "batch_size": 8},
        train={"epochs": 8, "verbose": 0, "tensorboard": False, "early_stopping": {"enabled": False}},
    )
    out = tmp_path / "out"
    proc = start_cnnlab("train", cfg, "--output-dir", out)
    run = wait_until_epoch_saved(proc, out, 1)
    proc.send_signal(signal.SIGTERM)
    proc.communicate(timeout=180)
    assert proc.returncode == 143, "the run finished before SIGTERM arrived"
    assert cli("train", "--resume", run, "--no-report").exit_code == 0
    reference = cli("train", cfg, "--no-report", "--output-dir", tmp_path / "ref")
    assert reference.exit_code == 0, reference.output
    ref_run = next((tmp_path / "ref" / "tiny").iterdir())
    drop = {"epoch_seconds"}
    assert [{k: v for k, v in r.items() if k not in drop} for r in history_rows(run)] == [
        {k: v for k, v in r.items() if k not in drop} for r in history_rows(ref_run)
    ]
    for a, b in zip(model_weights(run / "model.keras"), model_weights(ref_run / "model.keras"), strict=True):
        np.testing.assert_array_equal(a, b)
