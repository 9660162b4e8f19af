"""Training throughput against the machine's own peak, in ONE run.

    python benchmarks/flops_benchmark.py            # ~4 min on 2 idle CPU cores
    python benchmarks/flops_benchmark.py --quick    # fewer steps

1. Peak: a 2048x2048 float32 matmul (and bfloat16, where oneDNN may use the CPU's bfloat16
   instructions), the fastest thing the cores do, in FLOP/s, median of repeats.
2. Each config's model: FLOPs per image counted from its layers (a multiply-add is 2
   FLOPs; Conv2D 2*kh*kw*cin*cout*oh*ow, Dense 2*in*out; a training step is about 3x the
   forward pass: forward, gradient w.r.t. activations, gradient w.r.t. weights).
3. Training images/s of each model: one model.fit of 4 epochs over synthetic batches,
   the first epoch (tracing) dropped, the median of the other 3; as achieved FLOP/s
   and as a fraction of the peak of the same precision.

Every measurement runs in its own process, with TensorFlow's oneDNN kernels off and on
(TF_ENABLE_ONEDNN_OPTS must be set before TensorFlow starts; cnnlab turns it on).
Prints the table and writes its section of benchmarks/RESULTS.md. The machine may be
shared: compare only figures of one run.
"""

from __future__ import annotations

import argparse
import json
import os
import subprocess
import sys
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
CONFIGS = {"fashion.yaml": 100, "fashion-fast.yaml": 40, "fashion-best.yaml": 20}  # steps per timed epoch


def matmul_peak(dtype: str, n: int = 2048, repeats: int = 9) -> float:
    from cnnlab.backend import tf as get_tf
    from fit_speed import median_seconds

    tf = get_tf()
    a = tf.cast(tf.random.normal((n, n)), dtype)
    step = tf.function(lambda x: tf.matmul(x, x), autograph=False)
    return 2 * n**3 / median_seconds(lambda: step(a).numpy(), repeats, warmups=1)


def measured_precisions() -> tuple[list[str], str | None]:
    """The precisions to measure, and why bfloat16 is not among them (None if it is).
    bfloat16 only where oneDNN can use the CPU's bfloat16 instructions: without them, with
    oneDNN off (Eigen) or capped below them (ONEDNN_MAX_CPU_ISA=AVX2) TensorFlow emulates
    it, ~10x slower, and the row would measure the emulation. oneDNN-off rows are float32 only."""
    from cnnlab.backend import cpu_has_bfloat16, onednn_isa_cap_blocks_bfloat16

    if cpu_has_bfloat16() is False:
        return ["float32"], "this CPU has no bfloat16 instructions"
    blocked = onednn_isa_cap_blocks_bfloat16()  # not TF_ENABLE_ONEDNN_OPTS: in_process sets it per row
    return (["float32"], blocked) if blocked else (["float32", "mixed_bfloat16"], None)


def train_images_per_second(config: str, precision: str, steps: int) -> dict:
    from cnnlab.backend import keras as get_keras
    from cnnlab.config import load_config
    from fit_speed import config_images_per_second
    from layer_profile import model_forward_flops

    keras = get_keras()
    keras.mixed_precision.set_global_policy(precision)
    cfg = load_config(REPO / "configs" / config, ["train.jit_compile=false"])
    ips, model = config_images_per_second(keras, cfg, cfg.data.batch_size, steps)
    return {"images_per_s": ips, "flops": model_forward_flops(model), "batch": cfg.data.batch_size}


def in_process(job: list[str], onednn: str) -> dict:
    """Run one measurement in a fresh Python with TF_ENABLE_ONEDNN_OPTS=onednn."""
    env = {**os.environ, "TF_ENABLE_ONEDNN_OPTS": onednn, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run([sys.executable, __file__, "--job", *job], env=env, capture_output=True, text=True, check=True)
    return json.loads(out.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="half the steps")
    parser.add_argument("--job", nargs="+", help=argparse.SUPPRESS)  # one measurement, in a child process
    args = parser.parse_args()
    if args.job:
        kind, *rest = args.job
        result = {"flops_per_s": matmul_peak(rest[0])} if kind == "peak" else train_images_per_second(*rest[:2], int(rest[2]))
        print(json.dumps(result))
        return

    from results import machine, write_section

    precisions, why_not = measured_precisions()
    bfloat16 = len(precisions) > 1
    peaks, rows = {}, []
    for onednn in ("0", "1"):
        for precision in precisions if onednn == "1" else ["float32"]:
            dtype = "float32" if precision == "float32" else "bfloat16"
            peaks[onednn, precision] = in_process(["peak", dtype], onednn)["flops_per_s"]
            print(f"oneDNN {onednn} peak {dtype}: {peaks[onednn, precision] / 1e9:.1f} GFLOP/s", flush=True)
            for config, steps in CONFIGS.items():
                r = in_process(["train", config, precision, str(max(steps // (2 if args.quick else 1), 5))], onednn)
                achieved = r["images_per_s"] * 3 * r["flops"]
                rows.append((config, onednn, precision, r["batch"], r["flops"], r["images_per_s"], achieved,
                             achieved / peaks[onednn, precision]))  # fmt: skip
                print(rows[-1], flush=True)
    base = {c: ips for c, o, p, _, _, ips, _, _ in rows if o == "0"}  # float32, oneDNN off
    lines = [
        "## Training throughput against this machine's peak",
        "",
        f"Generated by `python benchmarks/flops_benchmark.py{' --quick' if args.quick else ''}` on "
        f"{time.strftime('%Y-%m-%d %H:%M')}. Machine: {machine()}.",
        "",
        "Peak = a 2048x2048 matmul, median of 9: "
        + "; ".join(f"oneDNN {'on' if o == '1' else 'off'} {p} {v / 1e9:.1f} GFLOP/s" for (o, p), v in peaks.items())
        + (" (bfloat16 with oneDNN only: without it TensorFlow emulates bfloat16)." if bfloat16
           else f". No bfloat16 rows: {why_not}, so "
           "TensorFlow would compute bfloat16 in software, ~10x slower (benchmarks/layer_profile.py)."),  # fmt: skip
        "",
        "A training step is counted as 3x the forward FLOPs of the Conv2D and Dense layers. Images/s: model.fit "
        "over synthetic batches, median of 3 epochs after a tracing epoch, each row in its own process.",
        "",
        "| config | oneDNN | precision | batch | forward MFLOP/image | train images/s | vs oneDNN off float32 | "
        "achieved GFLOP/s | of peak |",
        "|---|---|---|---:|---:|---:|---:|---:|---:|",
    ]
    for config, onednn, precision, batch, flops, ips, achieved, fraction in rows:
        lines.append(f"| {config} | {'on' if onednn == '1' else 'off'} | {precision} | {batch} | {flops / 1e6:.1f} | "
                     f"{ips:,.0f} | {ips / base[config]:.2f}x | {achieved / 1e9:.1f} | {100 * fraction:.0f} % |")  # fmt: skip
    text = "\n".join(lines)
    print(text)
    write_section("flops_benchmark", text)


if __name__ == "__main__":
    main()
