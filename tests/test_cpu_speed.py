"""What cnnlab sets up for speed on a CPU: oneDNN kernels on, and a warning before a
bfloat16 run on a CPU that would compute it in software."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from cnnlab import backend
from cnnlab.config import load_config
from cnnlab.train import compile as compile_stage
from tests.conftest import CONFIGS

ONEDNN_PROBE = (
    "from cnnlab.backend import keras; keras(); import os; "
    "from tensorflow.python.util import _pywrap_util_port as port; "
    "print(os.environ['TF_ENABLE_ONEDNN_OPTS'], port.IsMklEnabled())"
)


@pytest.mark.slow
@pytest.mark.parametrize(("given", "expected"), [(None, "1 True"), ("0", "0 False")])
def test_onednn_kernels_are_on_unless_the_user_turns_them_off(given, expected):
    env = {k: v for k, v in os.environ.items() if k != "TF_ENABLE_ONEDNN_OPTS"}
    if given is not None:
        env["TF_ENABLE_ONEDNN_OPTS"] = given
    out = subprocess.run([sys.executable, "-c", ONEDNN_PROBE], env=env, capture_output=True, text=True, check=True)
    assert out.stdout.split("\n")[-2] == expected


def test_cpu_bfloat16_probe_reads_this_machines_flags():
    cpuinfo = Path("/proc/cpuinfo")
    flags = cpuinfo.read_text().split() if cpuinfo.exists() else None
    expected = None if flags is None else ("avx512_bf16" in flags or "amx_bf16" in flags)
    assert backend.cpu_has_bfloat16() is expected


@pytest.mark.parametrize(("native", "noted"), [(False, True), (True, False), (None, False)])
def test_bfloat16_on_a_cpu_without_it_gets_one_note(monkeypatch, capsys, native, noted):
    monkeypatch.setattr(compile_stage, "has_gpu", lambda: False)
    monkeypatch.setattr(compile_stage, "cpu_has_bfloat16", lambda: native)
    cfg = load_config(CONFIGS / "fashion.yaml", ["train.mixed_precision=mixed_bfloat16"])
    try:
        compile_stage.set_precision_policy(cfg)
        assert compile_stage.keras().mixed_precision.global_policy().name == "mixed_bfloat16"  # the choice stands
    finally:
        compile_stage.keras().mixed_precision.set_global_policy("float32")
    err = capsys.readouterr().err
    assert ("Note: this CPU has no bfloat16 instructions" in err) is noted
    assert err.count("\n") == int(noted)
