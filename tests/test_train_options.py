"""Training options: precision policies, learning-rate schedules, categorical loss."""

from __future__ import annotations

import json

import numpy as np

import pytest

from cnnlab import backend
from cnnlab.backend import keras
from cnnlab.config import load_config
from cnnlab.runs import load_model
from cnnlab.runs import RunDir
from cnnlab.train import train
from cnnlab.train.compile import precision_policy
from tests.conftest import CONFIGS


AMX = {"avx512f", "avx512_bf16", "amx_bf16"}  # a Xeon with AMX (this project's servers)
AVX2 = {"avx2", "fma"}  # a learner's laptop
NO_LIMIT = {}


@pytest.fixture
def cpu(monkeypatch):
    """The facts precision_policy reads: the CPU's flags and oneDNN's environment."""

    def given(flags, env):
        monkeypatch.setattr(backend, "cpu_flags", lambda: flags)
        for name in ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
            monkeypatch.delenv(name, raising=False)
        for name, value in env.items():
            monkeypatch.setenv(name, value)

    return given


@pytest.mark.parametrize(
    "wanted, gpu, flags, env, policy",
    [
        ("auto", True, AMX, NO_LIMIT, "mixed_float16"),
        ("auto", False, AMX, NO_LIMIT, "mixed_bfloat16"),
        ("auto", False, {"avx512_bf16"}, NO_LIMIT, "mixed_bfloat16"),
        ("auto", False, AVX2, NO_LIMIT, "float32"),  # software bfloat16 would be ~10x slower
        ("auto", False, None, NO_LIMIT, "float32"),  # no /proc/cpuinfo: unknown is no bfloat16
        ("auto", False, AMX, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "float32"),  # an AVX2 laptop emulated
        ("auto", False, AMX, {"ONEDNN_MAX_CPU_ISA": "avx512_core_vnni"}, "float32"),
        ("auto", False, AMX, {"DNNL_MAX_CPU_ISA": "AVX2"}, "float32"),  # oneDNN's older name
        ("auto", False, AMX, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_BF16"}, "mixed_bfloat16"),
        ("auto", False, AMX, {"ONEDNN_MAX_CPU_ISA": "AVX512_CORE_AMX"}, "mixed_bfloat16"),
        ("auto", False, AMX, {"ONEDNN_MAX_CPU_ISA": "ALL"}, "mixed_bfloat16"),
        ("auto", False, AMX, {"ONEDNN_MAX_CPU_ISA": "SOMETHING_NEW"}, "mixed_bfloat16"),  # unknown: no limit
        ("auto", False, AMX, {"TF_ENABLE_ONEDNN_OPTS": "0"}, "float32"),  # Eigen: software bfloat16
        ("auto", False, AMX, {"TF_ENABLE_ONEDNN_OPTS": "1"}, "mixed_bfloat16"),
        (True, True, AVX2, NO_LIMIT, "mixed_float16"),
        (True, False, AVX2, NO_LIMIT, "mixed_bfloat16"),  # an explicit choice stands
        (False, True, AMX, NO_LIMIT, "float32"),
        (False, False, AMX, NO_LIMIT, "float32"),
        ("mixed_bfloat16", False, AVX2, {"ONEDNN_MAX_CPU_ISA": "AVX2"}, "mixed_bfloat16"),
        ("mixed_float16", False, AMX, NO_LIMIT, "mixed_float16"),
    ],
)  # fmt: skip
def test_precision_policy(cpu, wanted, gpu, flags, env, policy):
    cpu(flags, env)
    assert precision_policy(wanted, gpu) == policy


def test_shipped_configs_leave_precision_to_auto():
    """No precision trap: a shipped config never asks for bfloat16, which is ~10x slower on the
    CPUs most learners have (no AVX512_BF16/AMX)."""
    for path in CONFIGS.glob("*.yaml"):
        assert "mixed_bfloat16" not in path.read_text().split("#")[0], path


def test_bfloat16_training_keeps_the_output_in_float32(tiny_config, tmp_path):
    cfg = load_config(tiny_config, ["train.mixed_precision=mixed_bfloat16", "train.epochs=3"])
    run = train(cfg, tmp_path)
    assert keras().mixed_precision.global_policy().name == "float32"  # the run's policy ends with it
    model = load_model(run / "model.keras")
    assert model.get_layer("conv2d").compute_dtype == "bfloat16"
    assert model.get_layer("dense_1").compute_dtype == "float32"  # the softmax
    assert json.loads((run / "metrics.json").read_text())["test_accuracy"] > 0.6


def test_lr_find_puts_back_the_global_policy_it_found(tiny_config, tmp_path):
    """train() and lr_find() set Keras's global policy for the model they build; a notebook's
    next model (or a later command's in the same process) is built in the policy from before."""
    from cnnlab.train.lr_find import lr_find

    keras().mixed_precision.set_global_policy("mixed_float16")  # whatever the caller had, not only float32
    try:
        lr_find(load_config(tiny_config, ["train.mixed_precision=mixed_bfloat16"]), tmp_path, steps=10)
        assert keras().mixed_precision.global_policy().name == "mixed_float16"
    finally:
        keras().mixed_precision.set_global_policy("float32")


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


def test_verbose_auto_is_one_line_per_epoch_off_a_terminal(tmp_path):
    import io
    import subprocess
    import sys

    from cnnlab.train.compile import fit_verbosity

    class Terminal(io.StringIO):
        def isatty(self):
            return True

    assert fit_verbosity("auto", Terminal()) == 1
    assert fit_verbosity("auto", io.StringIO()) == 2
    assert fit_verbosity(0, Terminal()) == 0

    # A real run with stdout to a file: one line per epoch, no carriage-return progress bar.
    from tests.conftest import REPO, make_pattern_dataset, write_config

    x, y = make_pattern_dataset(200, seed=1)
    np.savez(tmp_path / "p.npz", x_train=x, y_train=y, x_test=x[:50], y_test=y[:50])
    config = write_config(tmp_path / "c.yaml", data={"path": str(tmp_path / "p.npz")},
                          train={"epochs": 2, "verbose": "auto", "tensorboard": False})  # fmt: skip
    log = tmp_path / "log.txt"
    with open(log, "w") as out:
        subprocess.run([sys.executable, "-m", "cnnlab", "train", str(config), "--no-report", "--output-dir", str(tmp_path / "o")],
                       stdout=out, stderr=subprocess.STDOUT, check=True, cwd=REPO)  # fmt: skip
    text = log.read_text()
    assert "\r" not in text and "\x08" not in text
    assert sum("loss:" in line and "val_loss" in line for line in text.splitlines()) == 2


def test_profile_prints_where_the_time_went(cli, tiny_config, tmp_path):
    result = cli("train", tiny_config, "--profile", "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    parts = ["start TensorFlow", "load data", "build model", "run files and input pipeline",
             "train (compile + fit)", "evaluate", "metrics, plots and files", "report.html", "total"]  # fmt: skip
    table = result.stderr.split("time by part:\n")[1].splitlines()
    assert [line.split("  ")[1].strip() for line in table] == parts
    run = next((tmp_path / "out" / "tiny").iterdir())
    saved = RunDir(run).read_metrics()["timings_seconds"]
    assert list(saved) == parts[:6] and all(v >= 0 for v in saved.values())


@pytest.mark.parametrize("name", ["adam", "adamw"])
def test_fused_adam_takes_the_steps_keras_adam_takes(name):
    from cnnlab.train.fused_adam import fuse_adam

    k = keras()
    x = np.random.default_rng(0).normal(size=(64, 6)).astype("float32")
    y = np.random.default_rng(1).integers(0, 3, 64)

    def trained(optimizer):
        k.utils.set_random_seed(3)
        model = k.Sequential([k.Input((6,)), k.layers.Dense(8, activation="relu"), k.layers.Dense(3)])
        model.compile(optimizer=optimizer, loss=k.losses.SparseCategoricalCrossentropy(from_logits=True),
                      steps_per_execution=4)  # fmt: skip
        model.fit(x, y, batch_size=8, epochs=3, shuffle=False, verbose=0)
        return model

    cls = {"adam": k.optimizers.Adam, "adamw": k.optimizers.AdamW}[name]
    fused = fuse_adam(cls(learning_rate=0.05))
    assert "_fused_update_step" in repr(fused.update_step)
    ours, theirs = trained(fused), trained(cls(learning_rate=0.05))
    moved = max(np.abs(a - b).max() for a, b in zip(ours.get_weights(), trained(cls(learning_rate=0.0)).get_weights()))
    assert moved > 0.05  # 24 steps at 0.05 moved the weights, so agreeing below says something
    for a, b in zip(ours.get_weights(), theirs.get_weights()):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-5)
    assert type(ours.optimizer) is cls  # still Keras's class: a saved model loads without cnnlab
    assert "update_step" in vars(fused) and "update_step" not in vars(fuse_adam(cls(amsgrad=True)))


def test_steps_per_execution_auto(tiny_config, tmp_path):
    from cnnlab.train.compile import AUTO_STEPS_PER_EXECUTION, steps_per_execution

    assert steps_per_execution(load_config(tiny_config)) == AUTO_STEPS_PER_EXECUTION
    assert steps_per_execution(load_config(tiny_config, ["train.steps_per_execution=1"])) == 1
    assert steps_per_execution(load_config(CONFIGS / "finetune.yaml")) == 1


def test_tf_distribute_is_asked_only_on_the_tensorflow_backend(monkeypatch):
    """The lent GPU machines run compile_model on Keras's JAX backend with no TensorFlow to
    import (benchmarks/gpu_benchmark.py): asking tf.distribute there would fail every job."""
    from types import SimpleNamespace

    from cnnlab.train import compile as compile_module

    def no_tensorflow():
        raise ModuleNotFoundError("No module named 'tensorflow'")

    monkeypatch.setattr(compile_module, "tf", no_tensorflow)
    jax_keras = SimpleNamespace(backend=SimpleNamespace(backend=lambda: "jax"))
    monkeypatch.setattr(compile_module, "keras", lambda: jax_keras)
    assert compile_module._under_tf_distribute() is False
