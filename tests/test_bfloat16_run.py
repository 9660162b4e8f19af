"""A run trained in mixed_bfloat16 (what train.mixed_precision: auto picks on a CPU with
AVX512_BF16/AMX) works with every later command: export converts a float32 copy and
verifies against it, predict on the artifacts, Grad-CAM and feature maps, the report.
bfloat16 trains on any CPU (in software where it lacks those instructions: slower, still
seconds for this tiny model)."""

from __future__ import annotations

import importlib.util
import json
import os

import numpy as np
import pytest

from tests.conftest import make_pattern_dataset, write_config

pytestmark = pytest.mark.slow  # trains a model

# CI installs cnnlab[export] (scripts/setup.sh): there a missing format package must fail, not skip.
HAVE = {fmt: all(importlib.util.find_spec(m) for m in modules) for fmt, modules in
        {"tflite": ("ai_edge_litert",), "onnx": ("tf2onnx", "onnx", "onnxruntime")}.items()}  # fmt: skip


def _requires(fmt: str):
    if not HAVE[fmt] and not os.environ.get("CI"):
        pytest.skip(f"the {fmt} packages are not installed: pip install 'cnnlab[export]'")


@pytest.fixture(scope="module")
def bf16_run(tmp_path_factory):
    """One epoch on 300 pattern images in mixed_bfloat16, with a rate high enough for
    confident predictions (near-ties could flip between bfloat16 and float32)."""
    from cnnlab.config import load_config
    from cnnlab.train import train

    folder = tmp_path_factory.mktemp("bf16")
    (x_train, y_train), (x_test, y_test) = make_pattern_dataset(300, seed=1), make_pattern_dataset(60, seed=2)
    np.savez(folder / "patterns.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    config = write_config(folder / "bf16.yaml", name="bf16", data={"path": str(folder / "patterns.npz")},
                          train={"epochs": 1, "mixed_precision": "mixed_bfloat16",
                                 "optimizer": {"name": "adam", "learning_rate": 0.01}})  # fmt: skip
    return train(load_config(config), folder / "outputs")  # Keras's global policy is float32 again after it


@pytest.fixture(scope="module")
def images(bf16_run, tmp_path_factory):
    """Three test images as PNG files, one of each class."""
    from PIL import Image

    folder = tmp_path_factory.mktemp("images")
    x, y = make_pattern_dataset(30, seed=7)
    paths = []
    for label in range(3):
        i = int(np.flatnonzero(y == label)[0])
        paths.append(folder / f"class{label}-{i}.png")
        Image.fromarray(x[i, :, :, 0]).save(paths[-1])
    return paths


def _top_classes(result) -> list[str]:
    assert result.exit_code == 0, result.output
    return [row["top"][0]["class"] for row in json.loads(result.stdout)]


def test_the_run_computes_in_bfloat16(bf16_run):
    from cnnlab.runs import load_model

    model = load_model(bf16_run / "model.keras")
    assert model.get_layer("conv2d").compute_dtype == "bfloat16"
    assert model.get_layer("dense_1").compute_dtype == "float32"  # the softmax
    metrics = json.loads((bf16_run / "metrics.json").read_text())
    assert metrics["precision"] == "mixed_bfloat16"  # the run says what it computed in


def test_float32_copy_has_the_same_weights_and_predictions(bf16_run):
    from cnnlab.export.float32_copy import float32_copy, mixed_policy
    from cnnlab.runs import load_model

    model = load_model(bf16_run / "model.keras")
    copy = float32_copy(model)
    assert mixed_policy(model) == "mixed_bfloat16" and mixed_policy(copy) is None
    assert {layer.compute_dtype for layer in copy.layers} == {"float32"}
    assert [layer.name for layer in copy.layers] == [layer.name for layer in model.layers]
    for a, b in zip(model.get_weights(), copy.get_weights(), strict=True):
        np.testing.assert_array_equal(a, b)
    x = np.load(bf16_run.parent.parent.parent / "patterns.npz")["x_test"]
    trained, exported = model.predict(x, verbose=0), copy.predict(x, verbose=0)
    np.testing.assert_allclose(exported, trained, atol=0.05)  # bfloat16 keeps 8 bits of mantissa
    assert (exported.argmax(1) == trained.argmax(1)).mean() >= 0.95
    assert float32_copy(copy) is copy  # a float32 model is exported as it is


@pytest.mark.parametrize("fmt", ["tflite", "onnx", "savedmodel"])
def test_export_verifies_and_predicts_the_keras_class(cli, bf16_run, images, tmp_path, fmt):
    """Before issue 25: tflite failed ("TensorFlow op Mul has no TFLite equivalent") and
    ONNX Runtime refused the graph (Mul bound to float and bfloat16)."""
    if fmt != "savedmodel":
        _requires(fmt)
    root = tmp_path / "export"
    result = cli("export", bf16_run, "--format", fmt, "--output", root, "--verify-images", "60")
    assert result.exit_code == 0, result.output
    assert "the model computes in mixed_bfloat16: exporting a float32 copy with its weights" in result.stderr
    verification = json.loads((root / "verify.json").read_text())[fmt]
    assert verification["passed"] and verification["max_abs_diff"] <= 1e-4
    assert verification["trained_precision"] == "mixed_bfloat16" and verification["trained_top1_agreement"] >= 0.95
    meta = json.loads((root / fmt / "cnnlab.json").read_text())
    assert meta["trained_precision"] == "mixed_bfloat16"
    keras_classes = _top_classes(cli("predict", bf16_run, *images, "--json"))
    assert keras_classes == [p.name[len("class")] for p in images]  # the model learned the patterns
    assert _top_classes(cli("predict", root / fmt, *images, "--json")) == keras_classes


def test_gradcam_of_the_bfloat16_model_is_its_float32_copys(bf16_run):
    """Grad-CAM took the gradient at a float32 cast of the bfloat16 activation, which the
    class score does not depend on: "the class score does not depend on layer"."""
    from cnnlab.export.float32_copy import float32_copy
    from cnnlab.inspect import probes
    from cnnlab.inspect.layer_paths import find_layers
    from cnnlab.runs import load_model

    model = load_model(bf16_run / "model.keras")
    copy = float32_copy(model)
    image = make_pattern_dataset(1, seed=3)[0][0]
    maps = []
    for m in (model, copy):
        probe = probes.Probe(m, find_layers(m, "conv2d_1")[0])
        predicted = int(probes.predict(probe, image).argmax())
        maps.append(probes.grad_cam(probe, image, predicted))
        assert probes.feature_maps(probe, image[None]).dtype == np.float32
    assert maps[0].max() == pytest.approx(1.0)
    assert np.corrcoef(maps[0].ravel(), maps[1].ravel())[0, 1] > 0.9


def test_visualize_and_report_draw_every_picture(cli, bf16_run):
    result = cli("visualize", bf16_run, "--layer", "conv2d_1", "--kind", "gradcam,feature-maps,stats,strip,pairs")
    assert result.exit_code == 0, result.output
    folder = bf16_run / "plots" / "visualize" / "conv2d_1"
    assert {"gradcam.png", "feature-maps.png", "stats.png", "strip.png", "pairs.png"} <= {p.name for p in folder.iterdir()}
    result = cli("report", bf16_run)
    assert result.exit_code == 0, result.output
    assert "Note" not in result.stderr, result.stderr  # e.g. "Grad-CAM: not drawn"


def test_an_interrupted_bfloat16_run_resumes_bit_exact(tmp_path, pattern_npz, monkeypatch):
    """auto trains in bfloat16 on AMX/AVX512_BF16 CPUs: --resume must end where an
    uninterrupted run ends there too (the backup holds float32 variables either way)."""
    from cnnlab.config import load_config
    from cnnlab.runs import RunDir, load_model
    from cnnlab.train import train
    from tests.conftest import train_until_backup

    config = write_config(tmp_path / "c.yaml", data={"path": str(pattern_npz)},
                          train={"epochs": 3, "mixed_precision": "mixed_bfloat16"})  # fmt: skip
    cfg = load_config(config)
    straight = train(cfg, tmp_path / "straight")
    run = train_until_backup(cfg, tmp_path / "interrupted", 1, monkeypatch)
    resumed = train(cfg, resume_run=run)
    assert RunDir(resumed).read_history()["loss"] == RunDir(straight).read_history()["loss"]
    for a, b in zip(load_model(RunDir(straight).model).get_weights(), load_model(RunDir(resumed).model).get_weights(),
                    strict=True):  # fmt: skip
        np.testing.assert_array_equal(a, b)


def test_a_resume_keeps_the_precision_auto_chose_when_the_run_began(tmp_path, pattern_npz, monkeypatch, capsys):
    """auto picked bfloat16 where the run began; resumed where auto would pick float32 (another
    CPU, or ONEDNN_MAX_CPU_ISA=AVX2), the run goes on in bfloat16, says so, and ends as an
    uninterrupted bfloat16 run does. (The CPU's answer is the environment: set here.)"""
    from cnnlab.config import load_config
    from cnnlab.runs import RunDir, load_model
    from cnnlab.train import compile as compile_stage
    from cnnlab.train import train
    from tests.conftest import train_until_backup

    config = write_config(tmp_path / "c.yaml", data={"path": str(pattern_npz)},
                          train={"epochs": 3, "mixed_precision": "auto"})  # fmt: skip
    cfg = load_config(config)
    monkeypatch.setattr(compile_stage, "fast_bfloat16", lambda: True)
    straight = train(cfg, tmp_path / "straight")
    run = train_until_backup(cfg, tmp_path / "interrupted", 1, monkeypatch)
    monkeypatch.setattr(compile_stage, "fast_bfloat16", lambda: False)
    capsys.readouterr()
    resumed = train(cfg, resume_run=run)
    assert "Precision: mixed_bfloat16, as this run began (auto would choose float32 here)" in capsys.readouterr().err
    assert load_model(RunDir(resumed).model).get_layer("conv2d").compute_dtype == "bfloat16"
    assert RunDir(resumed).read_history()["loss"] == RunDir(straight).read_history()["loss"]
    assert json.loads(RunDir(resumed).metrics.read_text())["precision"] == "mixed_bfloat16"
