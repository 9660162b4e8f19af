"""What cnnlab sets up for speed on a CPU: oneDNN kernels on, bfloat16 where the CPU
multiplies it (and says so), and a warning before a bfloat16 run that would be computed
in software."""

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


AMX = {"avx512f", "avx512_bf16", "amx_bf16"}


def _stderr_of_set_precision_policy(monkeypatch, capsys, flags, mixed_precision, env=()) -> tuple[str, str]:
    """(the global policy set_precision_policy chose, what it printed on stderr) on a CPU
    with ``flags`` and no GPU, with oneDNN's environment ``env`` alone."""
    monkeypatch.setattr(compile_stage, "has_gpu", lambda: False)
    monkeypatch.setattr(backend, "cpu_flags", lambda: flags)
    for name in ("TF_ENABLE_ONEDNN_OPTS", "ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env:
        monkeypatch.setenv(name, value)
    cfg = load_config(CONFIGS / "fashion.yaml", [f"train.mixed_precision={mixed_precision}"])
    try:
        compile_stage.set_precision_policy(cfg)
        policy = compile_stage.keras().mixed_precision.global_policy().name
    finally:
        compile_stage.keras().mixed_precision.set_global_policy("float32")
    return policy, capsys.readouterr().err


@pytest.mark.parametrize(
    ("flags", "env", "note"),
    [
        ({"avx2"}, (), "Note: this CPU has no bfloat16 instructions (AVX512_BF16/AMX), so mixed_bfloat16 runs in software"),
        (AMX, (("ONEDNN_MAX_CPU_ISA", "AVX2"),), "Note: ONEDNN_MAX_CPU_ISA=AVX2 keeps oneDNN below AVX512_CORE_BF16, so"),
        (AMX, (("TF_ENABLE_ONEDNN_OPTS", "0"),), "Note: TF_ENABLE_ONEDNN_OPTS=0 turns oneDNN off, so mixed_bfloat16 runs"),
        (AMX, (), None),
        (None, (), None),  # unknown CPU: nothing to warn about
    ],
)  # fmt: skip
def test_bfloat16_computed_in_software_gets_one_note(monkeypatch, capsys, flags, env, note):
    policy, err = _stderr_of_set_precision_policy(monkeypatch, capsys, flags, "mixed_bfloat16", env)
    assert policy == "mixed_bfloat16"  # the choice stands
    if note is None:
        assert err == ""
    else:
        assert err.startswith(note) and err.endswith("; set train.mixed_precision: false\n") and err.count("\n") == 1


def test_auto_says_when_it_picks_bfloat16(monkeypatch, capsys):
    policy, err = _stderr_of_set_precision_policy(monkeypatch, capsys, AMX, "auto")
    assert policy == "mixed_bfloat16"
    assert err == "Precision: mixed_bfloat16 (this CPU has AVX512_BF16/AMX; train.mixed_precision: false for float32)\n"
    for flags, env in (({"avx2"}, ()), (AMX, (("ONEDNN_MAX_CPU_ISA", "AVX2"),))):  # float32: nothing to say
        assert _stderr_of_set_precision_policy(monkeypatch, capsys, flags, "auto", env) == ("float32", "")
