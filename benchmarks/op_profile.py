"""Where a whole training step's CPU time goes, by TensorFlow op type (TensorFlow's profiler).

    pip install xprof      # reads the profiler's trace; not a cnnlab dependency
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/op_profile.py configs/fashion.yaml configs/fashion-best.yaml

layer_profile.py times each layer alone. Inside model.fit the layers share the cores:
TensorFlow runs independent ops (a convolution's weight gradient, the next layer's
element-wise backward pass) side by side, so a layer's cost alone says little about the
step's wall time. This profiles the real step: each config's model compiled as cnnlab
compiles it, model.fit over synthetic batches, one epoch to warm up and one profiled, and
sums each op's self time as the profiler records it (on the thread that ran the op; the
work oneDNN hands to other threads is not added), grouped by what the ops compute. The
shares are the point; prints the tables and writes its section of benchmarks/RESULTS.md.
"""

from __future__ import annotations

import argparse
import glob
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

# Op types (after oneDNN's rewrites: _MklNativeConv2D, ...) by what they compute; the first match wins.
KINDS = [
    ("convolution gradients", ("Conv2DBackprop", "Conv2dNativeBackprop")),
    ("convolution forward", ("Conv2D", "Conv2dNative")),
    ("batch normalization", ("BatchNorm",)),
    ("pooling", ("Pool",)),
    ("dense (matmul)", ("MatMul",)),
    ("optimizer update", ("ResourceApply",)),  # Adam, SGD, momentum...: TensorFlow's fused update kernels
    ("loss", ("CrossEntropy",)),
    ("activations", ("Relu", "Softmax", "Elu", "Sigmoid", "Tanh")),
    ("augmentation", ("ImageProjectiveTransform", "StatelessRandom", "ReverseV2")),
]


def kind_of(op_type: str, op_name: str) -> str:
    # Keras 3's BatchNormalization is generic ops (Mul, Sum, Mean, ...): its layer's name tells.
    if "batch_normalization" in op_name:
        return "batch normalization"
    return next((kind for kind, marks in KINDS if any(m in op_type for m in marks)), "other")


def profile(config: str, steps: int, logdir: str) -> dict:
    """Train `steps` batches once to warm up, then once under the profiler; returns the trace's op stats."""
    from cnnlab.backend import tf as get_tf
    from cnnlab.config import load_config
    from fit_speed import compiled_config_model
    from xprof.convert import raw_to_tool_data

    tf = get_tf()
    cfg = load_config(REPO / config, ["train.jit_compile=false"])
    batch = cfg.data.batch_size
    model, x, y = compiled_config_model(cfg, batch, steps)
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    tf.profiler.experimental.start(logdir)
    started = time.perf_counter()
    model.fit(x, y, batch_size=batch, epochs=1, verbose=0)
    wall = time.perf_counter() - started  # before stop(), which writes the trace out
    tf.profiler.experimental.stop()

    paths = glob.glob(f"{logdir}/**/*.xplane.pb", recursive=True)
    stats = json.loads(raw_to_tool_data.xspace_to_tool_data(paths, "framework_op_stats", {})[0])[0]
    column = {c["id"]: i for i, c in enumerate(stats["cols"])}
    by_type: dict[str, float] = {}
    by_kind: dict[str, float] = {}
    for row in stats["rows"]:
        cells = [c.get("v") for c in row["c"]]
        op_type, op_name, self_us = cells[column["type"]], cells[column["operation"]], cells[column["total_self_time"]]
        if op_type != "IDLE":
            ms, kind = self_us / 1e3 / steps, kind_of(op_type, op_name)
            by_type[op_type] = by_type.get(op_type, 0.0) + ms
            by_kind[kind] = by_kind.get(kind, 0.0) + ms
    return {"batch": batch, "steps": steps, "wall_ms_per_step": 1e3 * wall / steps, "ms_by_type": by_type,
            "ms_by_kind": by_kind}  # fmt: skip


def table(config: str, r: dict) -> list[str]:
    total = sum(r["ms_by_kind"].values())
    lines = [
        f"**{config}**, batch {r['batch']}, {r['steps']} steps profiled: {total:.1f} ms of op time per step, "
        f"{r['wall_ms_per_step']:.1f} ms wall per step under the profiler.",
        "",
        "| what | op ms per step | share |",
        "|---|---:|---:|",
    ]
    for kind, ms in sorted(r["ms_by_kind"].items(), key=lambda kv: -kv[1]):
        lines.append(f"| {kind} | {ms:.2f} | {100 * ms / total:.0f} % |")
    top = sorted(r["ms_by_type"].items(), key=lambda kv: -kv[1])[:6]
    lines += ["", "Largest op types: " + "; ".join(f"{t} {100 * ms / total:.0f} %" for t, ms in top) + ".", ""]
    return lines


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("configs", nargs="*", help="config files, relative to the repository")
    parser.add_argument("--steps", type=int, default=48, help="batches in the profiled epoch")
    parser.add_argument("--job", nargs=2, help=argparse.SUPPRESS)  # one config, in a child process
    args = parser.parse_args()
    if args.job:
        with tempfile.TemporaryDirectory() as logdir:
            print(json.dumps(profile(args.job[0], int(args.job[1]), logdir)))
        return
    if not args.configs:
        parser.error("name at least one config, e.g. configs/fashion.yaml")
    try:
        import xprof  # noqa: F401
    except ImportError:
        sys.exit("Error: this benchmark reads TensorFlow's profiler trace with xprof; pip install xprof")

    from results import machine, write_section

    lines = [
        "## Where a training step's time goes, by op type (TensorFlow's profiler)",
        "",
        f"Generated by `python benchmarks/op_profile.py {' '.join(args.configs)}` on {time.strftime('%Y-%m-%d %H:%M')}. "
        f"Machine: {machine()}; load average {os.getloadavg()[0]:.1f} at the end.",
        "",
        "Self time of each op inside model.fit as the profiler records it, grouped by what it computes "
        "(Keras's BatchNormalization is generic ops, counted by their layer's name); each config in its own "
        "process, synthetic batches, compiled as cnnlab compiles it. Unlike layer_profile.py's layers "
        "alone, this is the step as it runs, where TensorFlow overlaps independent ops.",
        "",
    ]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3"}
    for config in args.configs:
        out = subprocess.run([sys.executable, __file__, "--job", config, str(args.steps)], env=env,
                             capture_output=True, text=True)  # fmt: skip
        if out.returncode:
            sys.exit(f"{config}: the profiling process failed:\n{out.stderr[-3000:]}")
        lines += table(config, json.loads(out.stdout.strip().splitlines()[-1]))
    text = "\n".join(lines)
    print(text)
    write_section("op_profile", text)


if __name__ == "__main__":
    main()
