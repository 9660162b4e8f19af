"""benchmarks/RESULTS.md is generated section by section: a benchmark rewrites its own
section and leaves the others as they are."""

from __future__ import annotations

import importlib.util

import pytest

from tests.conftest import REPO


def load_benchmark(name: str):
    """benchmarks/<name>.py as a module (benchmarks/ is no package)."""
    spec = importlib.util.spec_from_file_location(f"bench_{name}", REPO / "benchmarks" / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def test_a_benchmark_rewrites_only_its_own_section(tmp_path):
    results = load_benchmark("results")
    path = tmp_path / "RESULTS.md"
    results.write_section("a", "## A\nfirst", path)
    results.write_section("b", "## B\nkept", path)
    results.write_section("a", "## A\nsecond", path)
    text = path.read_text()
    assert text.startswith("# Benchmark results")
    assert "second" in text and "first" not in text and "kept" in text
    assert text.index("## A") < text.index("## B")  # rewritten in place, not appended
    assert text.count("<!-- a: start -->") == 1 and text.count("<!-- b: end -->") == 1


def test_the_committed_results_file_has_every_benchmarks_section():
    text = (REPO / "benchmarks" / "RESULTS.md").read_text()
    for name in ("train_benchmark", "flops_benchmark", "layer_profile", "gpu_throughput", "recipe_screen",
                 "step-overhead"):
        assert text.count(f"<!-- {name}: start -->") == 1 and text.count(f"<!-- {name}: end -->") == 1, name


@pytest.mark.parametrize(
    "flags, env, expected",
    [
        ({"avx2", "fma"}, {}, (["float32"], "this CPU has no bfloat16 instructions")),
        ({"avx2", "avx512_bf16"}, {}, (["float32", "mixed_bfloat16"], None)),
        ({"avx2", "amx_bf16"}, {"ONEDNN_MAX_CPU_ISA": "AVX2"},
         (["float32"], "ONEDNN_MAX_CPU_ISA=AVX2 keeps oneDNN below AVX512_CORE_BF16")),
        # the benchmark sets TF_ENABLE_ONEDNN_OPTS per row itself: the caller's value drops nothing
        ({"avx2", "avx512_bf16"}, {"TF_ENABLE_ONEDNN_OPTS": "0"}, (["float32", "mixed_bfloat16"], None)),
    ],
)
def test_flops_benchmark_measures_bfloat16_only_where_onednn_multiplies_it(monkeypatch, flags, env, expected):
    """A bfloat16 row on a CPU (or an ISA cap) without bfloat16 instructions would time TensorFlow's emulation."""
    import cnnlab.backend

    for name in ("ONEDNN_MAX_CPU_ISA", "DNNL_MAX_CPU_ISA", "TF_ENABLE_ONEDNN_OPTS"):
        monkeypatch.delenv(name, raising=False)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    monkeypatch.setattr(cnnlab.backend, "cpu_flags", lambda: flags)
    assert load_benchmark("flops_benchmark").measured_precisions() == expected


def test_op_profile_groups_op_types_by_what_they_compute():
    kind_of = load_benchmark("op_profile").kind_of
    assert kind_of("_MklNativeConv2DBackpropFilterWithBias", "gradient_tape/m/conv2d_1/convolution") == "convolution gradients"
    assert kind_of("_MklNativeFusedConv2D", "m/conv2d_1/convolution") == "convolution forward"
    assert kind_of("Mul", "m/batch_normalization_2/moments/mul") == "batch normalization"  # Keras's generic ops
    assert kind_of("_MklNativeFusedBatchNormV3", "m/bn/FusedBatchNormV3") == "batch normalization"
    assert kind_of("ResourceApplyAdam", "Adam/update") == "optimizer update"
    assert kind_of("DepthwiseConv2dNativeBackpropFilter", "gradient_tape/m/depthwise") == "convolution gradients"
    assert kind_of("SoftmaxCrossEntropyWithLogits", "loss/ce") == "loss"
    assert kind_of("AssignAddVariableOp", "metrics/accuracy/AssignAdd") == "other"  # a metric, not the optimizer
    assert kind_of("Mul", "m/dense/mul") == "other"
