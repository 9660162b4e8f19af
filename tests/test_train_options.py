"""Training options: precision policies, learning-rate schedules, categorical loss."""

from __future__ import annotations

import json

import pytest

from cnnlab.backend import keras
from cnnlab.config import load_config
from cnnlab.runs import load_model
from cnnlab.runs import RunDir
from cnnlab.train import train
from cnnlab.train.compile import precision_policy


@pytest.fixture(autouse=True)
def float32_afterwards():
    yield
    keras().mixed_precision.set_global_policy("float32")  # train() sets it globally


@pytest.mark.parametrize(
    "wanted, gpu, policy",
    [
        ("auto", True, "mixed_float16"), ("auto", False, "float32"),
        (True, True, "mixed_float16"), (True, False, "mixed_bfloat16"),
        (False, True, "float32"), ("mixed_bfloat16", True, "mixed_bfloat16"),
    ],
)  # fmt: skip
def test_precision_policy(wanted, gpu, policy):
    assert precision_policy(wanted, gpu) == policy


def test_bfloat16_training_keeps_the_output_in_float32(tiny_config, tmp_path):
    cfg = load_config(tiny_config, ["train.mixed_precision=mixed_bfloat16", "train.epochs=3"])
    run = train(cfg, tmp_path)
    model = load_model(run / "model.keras")
    assert model.get_layer("conv2d").compute_dtype == "bfloat16"
    assert model.get_layer("dense_1").compute_dtype == "float32"  # the softmax
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] > 0.6


def test_cosine_schedule_with_warmup_and_label_smoothing(tiny_config, tmp_path):
    cfg = load_config(
        tiny_config,
        ["train.epochs=4", "train.optimizer.schedule=cosine", "train.optimizer.warmup_epochs=1",
         "train.optimizer.learning_rate=0.004", "train.loss=categorical_crossentropy", "train.label_smoothing=0.1"],
    )  # fmt: skip
    run = train(cfg, tmp_path)
    rates = RunDir(run).read_history()["learning_rate"]
    # the rate logged at each epoch end: at the peak after warm-up, then decaying to 0
    assert rates[0] == pytest.approx(0.004, rel=1e-3)
    assert rates[0] > rates[1] > rates[2] > rates[3] and rates[3] == pytest.approx(0.0, abs=1e-7)
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] > 0.6
