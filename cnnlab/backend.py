"""Lazy, quiet import of TensorFlow/Keras, and device facts.

Stage modules call ``keras()`` instead of importing at module level, so that
``cnnlab --help`` and config validation errors never wait for TensorFlow.
"""

from __future__ import annotations

import functools
import os
import sys
from contextlib import contextmanager
from pathlib import Path

# This module imports nothing of cnnlab: every other module may import it.


@contextmanager
def _native_stderr_silenced():
    """TensorFlow's C++ start-up lines ("Could not find cuda drivers", "failed call to
    cuInit: ... CUDA error" on a machine without a GPU, oneDNN notices) are printed
    before absl logging starts, so TF_CPP_MIN_LOG_LEVEL cannot hide them. They alarm
    learners and mean nothing, so file descriptor 2 goes to /dev/null while TensorFlow
    starts. CNNLAB_TF_LOGS=1 (set by --debug) shows them."""
    if os.environ.get("CNNLAB_TF_LOGS"):
        yield
        return
    sys.stderr.flush()
    saved, devnull = os.dup(2), os.open(os.devnull, os.O_WRONLY)
    os.dup2(devnull, 2)
    try:
        yield
    finally:
        os.dup2(saved, 2)
        os.close(saved)
        os.close(devnull)


@functools.cache
def keras():
    """The keras module, with TensorFlow started quietly. cnnlab's own layers register
    themselves when cnnlab.layers is imported (cnnlab.runs.load_model does that before
    loading a .keras file), so this module imports nothing of cnnlab."""
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide C++ INFO/WARNING noise after start-up
    # TensorFlow turns its oneDNN kernels on by default only on CPUs with AVX512-VNNI/AMX;
    # on others (an AVX2 AMD EPYC, say) convolutions fall back to Eigen, ~3x slower per
    # step (benchmarks/layer_profile.py). An explicit TF_ENABLE_ONEDNN_OPTS=0 still wins.
    os.environ.setdefault("TF_ENABLE_ONEDNN_OPTS", "1")
    with _native_stderr_silenced():
        import keras as _keras  # noqa: PLC0415
        import tensorflow as _tf  # noqa: PLC0415

        _tf.config.list_physical_devices("GPU")  # device start-up prints its CUDA complaints here
    return _keras


@functools.cache
def tf():
    keras()
    import tensorflow as _tf  # noqa: PLC0415

    return _tf


def cpu_flags() -> set[str] | None:
    """The CPU's instruction-set flags from Linux's /proc/cpuinfo; None where it cannot be read."""
    try:
        text = Path("/proc/cpuinfo").read_text()
    except OSError:
        return None
    return next((set(line.split()) for line in text.splitlines() if line.startswith("flags")), None)


def cpu_has_bfloat16() -> bool | None:
    """Whether the CPU multiplies bfloat16 natively (AVX512_BF16 or AMX); None where
    unknown. Without it TensorFlow computes bfloat16 in software, many times slower."""
    flags = cpu_flags()
    return None if flags is None else bool(flags & {"avx512_bf16", "amx_bf16"})


# ONEDNN_MAX_CPU_ISA values below AVX512_CORE_BF16, oneDNN's first ISA with bfloat16 dot
# products (AVX2_VNNI_2 only converts to and from bfloat16).
_ISAS_WITHOUT_BFLOAT16 = ("SSE41", "AVX", "AVX2", "AVX2_VNNI", "AVX2_VNNI_2", "AVX512_CORE", "AVX512_CORE_VNNI")


def onednn_bfloat16_blocked() -> str | None:
    """What keeps TensorFlow from the CPU's bfloat16 instructions, as a phrase; None if nothing.
    Without oneDNN (TF_ENABLE_ONEDNN_OPTS=0) TensorFlow's CPU kernels are Eigen's, which
    compute bfloat16 in software; ONEDNN_MAX_CPU_ISA (oneDNN's own cap, e.g. AVX2 to stand in
    for a laptop on a server) below AVX512_CORE_BF16 does the same. Other values (ALL, a
    higher ISA, a name this list does not know) cap nothing here."""
    if os.environ.get("TF_ENABLE_ONEDNN_OPTS", "1").strip().lower() in ("0", "false"):
        return "TF_ENABLE_ONEDNN_OPTS=0 turns oneDNN off"
    return onednn_isa_cap_blocks_bfloat16()


def onednn_isa_cap_blocks_bfloat16() -> str | None:
    """The ONEDNN_MAX_CPU_ISA half of onednn_bfloat16_blocked, for callers that turn oneDNN on
    themselves (benchmarks/flops_benchmark.py)."""
    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA"):  # oneDNN reads the old name too, the new one first
        cap = os.environ.get(name, "").strip()
        if cap:
            return f"{name}={cap} keeps oneDNN below AVX512_CORE_BF16" if cap.upper() in _ISAS_WITHOUT_BFLOAT16 else None
    return None


def fast_bfloat16() -> bool | None:
    """Whether TensorFlow computes bfloat16 with the CPU's own instructions: the CPU has
    them (cpu_has_bfloat16) and nothing blocks oneDNN from them; None where the CPU is unknown."""
    return False if onednn_bfloat16_blocked() else cpu_has_bfloat16()


@contextmanager
def global_policy_restored():
    """Keras's global dtype policy as it was, once the block ends: training sets it for the
    model a run builds (its layers keep it) and export sets float32 for a model's copy, and
    a notebook's or a later command's next model must not be built in bfloat16 unasked."""
    k = keras()
    before = k.mixed_precision.global_policy()
    try:
        yield
    finally:
        k.mixed_precision.set_global_policy(before)


@functools.cache
def has_gpu() -> bool:
    return bool(tf().config.list_physical_devices("GPU"))
