"""Training benchmark: cnnlab against the hand-written Keras script, in ONE run.

    python benchmarks/train_benchmark.py                 # full: ~30 min on 2 CPU cores
    python benchmarks/train_benchmark.py --quick         # a few minutes: subset, fewer epochs

Part 1, overhead: the textbook model for the same fixed epochs, (a) plain Keras
(benchmarks/plain_keras.py: NumPy arrays into model.fit, batch 32), (a') the same with
tf.data's autotuner off (--no-autotune, as cnnlab's pipelines) and (b) `cnnlab train
configs/fashion.yaml` with early stopping off, each --repeats times (3), interleaved; the
run with the median images/s is kept (this shared machine has slow spells). Images/s is
the median over the epochs after the first (the first pays tracing and warm-up).

Part 2, recipes: the plain script with early stopping (its own best result) against
configs/fashion-fast.yaml, any --variants (e.g. the CPU screen's benchmarks/recipes/fast-*.yaml)
and configs/fashion-best.yaml: wall and CPU time, test accuracy (and with TTA where measured: cnnlab.inspect.tta_views).
To measure as on a learner's AVX2 laptop on a newer CPU: ONEDNN_MAX_CPU_ISA=AVX2 python ...

Every variant runs in its own process, so peak RSS is its own. Results go to stdout
and to benchmarks/RESULTS.md (regenerated, never hand-edited).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import RESULTS, cpu_name, write_section

from cnnlab.runs.read import tta_result

REPO = Path(__file__).resolve().parents[1]
PLAIN = REPO / "benchmarks" / "plain_keras.py"
CNNLAB = [sys.executable, "-m", "cnnlab"]


def run_measured(cmd: list[str]) -> tuple[str, float, float, float]:
    """Run cmd; return (stdout, wall seconds, peak RSS in MiB, CPU seconds) of that process."""
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    with tempfile.TemporaryFile("w+") as out, tempfile.TemporaryFile("w+") as err:
        started = time.perf_counter()
        proc = subprocess.Popen(cmd, stdout=out, stderr=err, text=True, cwd=REPO, env=env)
        _, status, usage = os.wait4(proc.pid, 0)  # reaps the child and returns its own rusage
        wall = time.perf_counter() - started
        out.seek(0), err.seek(0)
        stdout, stderr = out.read(), err.read()
    if os.waitstatus_to_exitcode(status) != 0:
        sys.exit(f"benchmark step failed: {' '.join(cmd)}\n{stderr[-3000:]}")
    return stdout, wall, usage.ru_maxrss / 1024, usage.ru_utime + usage.ru_stime  # ru_maxrss is in KiB on Linux


def plain(epochs: int, limit: int | None, early_stopping: bool, autotune: bool = True) -> dict:
    cmd = [sys.executable, str(PLAIN), "--epochs", str(epochs)]
    cmd += ["--limit", str(limit)] if limit else []
    cmd += ["--early-stopping"] if early_stopping else []
    cmd += [] if autotune else ["--no-autotune"]
    stdout, wall, rss, cpu = run_measured(cmd)
    result = json.loads(stdout.strip().splitlines()[-1])
    label = "plain Keras script" + ("" if autotune else ", tf.data autotuner off")
    return summarize(label, result["epoch_seconds"], result["train_images"],
                     result["test_accuracy"], wall, rss, cpu)  # fmt: skip


def cnnlab(config: str, sets: list[str], label: str, limit: int | None, out: Path) -> dict:
    cmd = CNNLAB + ["train", config, "--output-dir", str(out), "--set", "train.verbose=0",
                    "--set", "train.tensorboard=false"]  # fmt: skip
    for item in sets + ([f"data.limit={limit}"] if limit else []):
        cmd += ["--set", item]
    stdout, wall, rss, cpu = run_measured(cmd)
    run = Path(stdout.strip().splitlines()[-1].removeprefix("run saved to "))
    with open(run / "history.csv", newline="") as f:
        epoch_seconds = [float(row["epoch_seconds"]) for row in csv.DictReader(f)]
    metrics = json.loads((run / "metrics.json").read_text())
    row = summarize(label, epoch_seconds, metrics["train_images"], metrics["test_accuracy"], wall, rss, cpu)
    return {**row, "tta": tta_result(metrics)}


def summarize(label, epoch_seconds, n_train, accuracy, wall, rss, cpu) -> dict:
    steady = epoch_seconds[1:] or epoch_seconds
    return {
        "variant": label,
        "epochs": len(epoch_seconds),
        "images_per_s": n_train / statistics.median(steady),
        "wall_s": wall,
        "cpu_s": cpu,
        "peak_rss_mib": rss,
        "test_accuracy": accuracy,
    }


def tta_text(row: dict) -> str:
    tta = row.get("tta")
    return f" ({tta[0]:.4f} with TTA, {len(tta[1])} views)" if tta else ""


def median_run(rows: list[dict]) -> dict:
    """The run with the median images/s (the upper middle one of an even number)."""
    return sorted(rows, key=lambda r: r["images_per_s"])[len(rows) // 2]


def table(rows: list[dict], baseline: dict) -> str:
    lines = [
        "| variant | epochs | images/s (median) | wall time | CPU time | peak RSS | test accuracy | images/s ratio | "
        "wall-time ratio | CPU-time ratio |",
        "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|",
    ]
    for r in rows:
        lines.append(
            f"| {r['variant']} | {r['epochs']} | {r['images_per_s']:,.0f} | {r['wall_s']:.0f} s | {r['cpu_s']:.0f} s | "
            f"{r['peak_rss_mib']:,.0f} MiB | {r['test_accuracy']:.4f}{tta_text(r)} | "
            f"{r['images_per_s'] / baseline['images_per_s']:.2f} | {r['wall_s'] / baseline['wall_s']:.2f} | "
            f"{r['cpu_s'] / baseline['cpu_s']:.2f} |"
        )
    return "\n".join(lines)


def machine() -> str:
    cpu = cpu_name()
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA")  # a newer CPU standing in for an older one: say so
    cpu += f" (oneDNN limited to {isa} by ONEDNN_MAX_CPU_ISA)" if isa else ""
    return (f"{platform.system()} {platform.machine()}, {cpu}, {os.cpu_count()} cores, "
            f"{'GPU: ' + ', '.join(g.name for g in gpus) if gpus else 'no GPU'}; Python {platform.python_version()}, "
            f"TensorFlow {tf.__version__}")  # fmt: skip


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=3, help="fixed epochs for the overhead comparison")
    parser.add_argument("--repeats", type=int, default=3,
                        help="runs of each side of the overhead comparison, interleaved; the median is kept")
    parser.add_argument("--limit", type=int, default=None, help="use N training (and N test) images")
    parser.add_argument("--quick", action="store_true", help="--limit 12000 --epochs 2 --repeats 1, recipes without best")
    parser.add_argument("--skip-recipes", action="store_true")
    parser.add_argument("--skip-best", action="store_true", help="recipes without fashion-best (~20 min)")
    parser.add_argument("--variants", nargs="+", type=Path, default=[], metavar="CONFIG",
                        help="more recipes against the plain script, e.g. benchmarks/recipes/fast-*.yaml")
    parser.add_argument("--output", type=Path, default=RESULTS, help="default: its section of benchmarks/RESULTS.md")
    args = parser.parse_args()
    if args.quick:
        args.limit, args.epochs, args.repeats = args.limit or 12000, 2, 1
    out = Path(tempfile.mkdtemp(prefix="cnnlab-bench-"))
    command = " ".join(["python benchmarks/train_benchmark.py"] + sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M")

    print(f"overhead: textbook model, {args.epochs} epochs, limit={args.limit}, {args.repeats} interleaved runs each",
          flush=True)  # fmt: skip
    plains, tuned_off, ours = [], [], []
    for _ in range(args.repeats):  # interleaved: a slow spell of this shared machine hits every side
        plains.append(plain(args.epochs, args.limit, early_stopping=False))
        print(json.dumps(plains[-1]), flush=True)
        tuned_off.append(plain(args.epochs, args.limit, early_stopping=False, autotune=False))
        print(json.dumps(tuned_off[-1]), flush=True)
        # float32 like the plain script: on a CPU with AMX, auto would pick bfloat16
        ours.append(cnnlab("configs/fashion.yaml", [f"train.epochs={args.epochs}", "train.early_stopping.enabled=false",
                                                    "train.mixed_precision=false"],
                           "cnnlab train configs/fashion.yaml", args.limit, out))  # fmt: skip
        print(json.dumps(ours[-1]), flush=True)
    a, a_off, b = median_run(plains), median_run(tuned_off), median_run(ours)
    each = "; ".join(f"{rows[0]['variant']}: " + ", ".join(f"{r['images_per_s']:,.0f}" for r in rows)
                     for rows in (plains, tuned_off, ours))  # fmt: skip
    sections = [
        "## Overhead at identical settings",
        f"Textbook model, batch 32, {args.epochs} epochs, no early stopping"
        + (f", {args.limit} images" if args.limit else ", full 48,000/12,000/10,000 split")
        + f". Each side ran {args.repeats} times, interleaved; the row is its run with the median images/s"
        + f" (every run's: {each}).",
        "The second row is the same script with tf.data's autotuner off in the pipeline Keras makes from "
        "the arrays (plain_keras.py --no-autotune), as cnnlab's pipelines have it: not what a user writes, "
        "but it separates the autotuner's share of cnnlab's lead from the rest.",
        "",
        table([a, a_off, b], a),
        "",
        f"cnnlab / plain images/s ratio: **{b['images_per_s'] / a['images_per_s']:.2f}** (goal ≥ 1.3); "
        f"against the plain script with the autotuner off: {b['images_per_s'] / a_off['images_per_s']:.2f}.",
    ]

    with_best = not (args.quick or args.skip_best)
    if not args.skip_recipes:
        print("recipes: plain early-stopped vs fashion-fast, the variants and fashion-best", flush=True)
        base = plain(20, args.limit, early_stopping=True)
        print(json.dumps(base), flush=True)
        rows = [base, cnnlab("configs/fashion-fast.yaml", [], "cnnlab configs/fashion-fast.yaml", args.limit, out)]
        print(json.dumps(rows[-1]), flush=True)
        for variant in args.variants:  # their own train.mixed_precision (auto: float32 on an AVX2 CPU)
            rows.append(cnnlab(str(variant), [], f"cnnlab {variant}", args.limit, out))
            print(json.dumps(rows[-1]), flush=True)
        if with_best:
            rows.append(cnnlab("configs/fashion-best.yaml", [], "cnnlab configs/fashion-best.yaml", args.limit, out))
            print(json.dumps(rows[-1]), flush=True)
        sections += [
            "",
            "## Recipes against the plain script's early-stopped result",
            "The plain script trains up to 20 epochs with EarlyStopping(val_loss, patience 2, restore best).",
            "",
            table(rows, base),
            "",
            f"fashion-fast: {rows[1]['test_accuracy']:.4f} test accuracy in {rows[1]['cpu_s'] / base['cpu_s']:.2f}× "
            f"the plain script's CPU time and {rows[1]['wall_s'] / 60:.1f} min wall "
            "(goals: ≥ 0.915 in ≤ 0.25× the CPU time, ≤ 3 min wall).",
        ]
        if with_best:
            sections.append(
                f"fashion-best: {rows[-1]['test_accuracy']:.4f} test accuracy{tta_text(rows[-1])} in "
                f"{rows[-1]['wall_s'] / 60:.1f} min (goals: ≥ 0.94 within 20 min)."
            )

    text = "\n".join(
        [
            "## Training benchmark (cnnlab train against a plain Keras script)",
            "",
            f"Generated by `{command}` on {started}; do not edit by hand.",
            "",
            f"Machine: {machine()}.",
            "",
            "Wall time is the whole process: start-up, data loading, training, evaluation, plots, report.",
            "CPU time is that process's user + system seconds (all its threads): what a learner's cores pay.",
            "Each variant runs in its own process; peak RSS is that process's.",
            "",
            *[line.replace("## ", "### ", 1) if line.startswith("## ") else line for line in sections],
        ]
    )
    if args.output == RESULTS:
        write_section("train_benchmark", text)
    else:
        args.output.write_text(text + "\n")
    print(text)


if __name__ == "__main__":
    main()
