"""Time to accuracy of the shipped configs on this machine, in ONE run.

    python benchmarks/time_to_accuracy.py                                  # every config that trains here
    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/time_to_accuracy.py          # as on an AVX2 laptop (no AVX-512/AMX)
    python benchmarks/time_to_accuracy.py --configs fashion fashion-fast   # some of them
    python benchmarks/time_to_accuracy.py --configs fashion-best --seeds 42 43 44 --section time_to_accuracy_seeds
    python benchmarks/time_to_accuracy.py --set data.limit=3000 --output /tmp/t.md   # a quick look

Each config runs as a user runs it (`cnnlab train configs/NAME.yaml`), in its own process,
one after the other. For each it reports:

- minutes to >= 0.91, >= 0.93, >= 0.94 validation accuracy: from the command's start to the
  end of the first epoch whose val_accuracy reaches it. The time before training comes from
  the run's metrics.json (start-up, data, model, files), the training time is train_seconds
  (compile, epochs, saving the best model) shared out over the epochs by their epoch_seconds;
- the test accuracy of the model the run kept, and the whole command's wall time;
- training images/s (median epoch after the first; an epoch's time includes its validation)
  and that as a fraction of this machine's peak: 3x the forward FLOPs of the Conv2D and
  Dense layers per image, against a 2048x2048 float32 matmul (benchmarks/flops_benchmark.py).

Configs with a pretrained backbone (ImageNet weights to download) and those whose dataset
is not on this machine are listed as skipped. Results go to stdout and to this benchmark's
section of benchmarks/RESULTS.md (or --output).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from results import RESULTS, machine, write_section

from cnnlab.runs.read import tta_result

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
THRESHOLDS = (0.91, 0.93, 0.94)


def trainable_here(config: Path) -> str | None:
    """None when `cnnlab train config` can run offline here, else why not."""
    from cnnlab.config import load_config
    from cnnlab.data.idx import idx_search_dirs

    cfg = load_config(config)
    if cfg.model.backbone is not None:
        return "pretrained backbone (ImageNet weights to download)"
    if cfg.tune is not None:
        return "a search space for cnnlab tune"
    if cfg.data.source in ("fashion_mnist", "mnist") and not cfg.data.path:
        found = any(any(d.glob("train-images-idx3-ubyte*")) for d in idx_search_dirs(cfg.data.source) if d.is_dir())
        return None if found else f"{cfg.data.source} is not on this machine (a download)"
    return None if cfg.data.path and Path(cfg.data.path).exists() else f"data.path {cfg.data.path} not here"


def train(config: Path, sets: list[str], out: Path) -> dict:
    cmd = [sys.executable, "-m", "cnnlab", "train", str(config), "--output-dir", str(out),
           "--set", "train.verbose=0", "--set", "train.tensorboard=false"]  # fmt: skip
    for item in sets:
        cmd += ["--set", item]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    started = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, cwd=REPO, env=env)
    wall = time.perf_counter() - started
    if proc.returncode:
        sys.exit(f"benchmark step failed: {' '.join(cmd)}\n{proc.stderr[-3000:]}")
    run = Path(proc.stdout.strip().splitlines()[-1].removeprefix("run saved to "))
    with open(run / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    metrics = json.loads((run / "metrics.json").read_text())
    return {"run": run, "rows": rows, "metrics": metrics, "wall_s": wall}


def minutes_to(result: dict, threshold: float) -> float | None:
    """Minutes from the command's start to the end of the first epoch at >= threshold."""
    metrics, rows = result["metrics"], result["rows"]
    parts = list(metrics["timings_seconds"].items())
    head = sum(v for k, v in parts[: [k for k, _ in parts].index("train (compile + fit)")])  # before training
    epoch_seconds = [float(r["epoch_seconds"]) for r in rows]
    scale = metrics["train_seconds"] / sum(epoch_seconds)  # compile and saving, shared out
    elapsed = head
    for row, seconds in zip(rows, epoch_seconds, strict=True):
        elapsed += seconds * scale
        if row.get("val_accuracy") and float(row["val_accuracy"]) >= threshold:
            return elapsed / 60
    return None


def forward_flops(config: Path, sets: list[str]) -> float:
    from cnnlab.backend import keras
    from cnnlab.config import load_config
    from cnnlab.model import build_model
    from layer_profile import model_forward_flops

    cfg = load_config(config, sets)
    keras()  # the model builders expect the backend started
    model = build_model(cfg, (28, 28, 1), 10)
    return model_forward_flops(model)


def peak_flops() -> float:
    cmd = [sys.executable, str(REPO / "benchmarks" / "flops_benchmark.py"), "--job", "peak", "float32"]
    env = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}
    out = subprocess.run(cmd, capture_output=True, text=True, check=True, env=env)
    return json.loads(out.stdout.strip().splitlines()[-1])["flops_per_s"]


def row_text(name: str, result: dict, flops: float, peak: float) -> str:
    rows, metrics = result["rows"], result["metrics"]
    steady = [float(r["epoch_seconds"]) for r in rows][1:] or [float(rows[0]["epoch_seconds"])]
    train_images = metrics.get("train_images")
    images_per_s = train_images / statistics.median(steady) if train_images else None
    reached = [minutes_to(result, t) for t in THRESHOLDS]
    cells = [f"{m:.1f}" if m is not None else "—" for m in reached]
    best_val = max(float(r["val_accuracy"]) for r in rows if r.get("val_accuracy"))
    fraction = f"{100 * images_per_s * 3 * flops / peak:.0f} %" if images_per_s else "?"
    speed = f"{images_per_s:,.0f}" if images_per_s else "?"
    tta = tta_result(metrics)
    tta_text = f"{tta[0]:.4f}" if tta else "—"
    return (f"| {name} | {' | '.join(cells)} | {best_val:.4f} | {metrics['test_accuracy']:.4f} | {tta_text} | "
            f"{len(rows)} | {result['wall_s'] / 60:.1f} | {speed} | {flops / 1e6:.1f} | {fraction} |")  # fmt: skip


def mean_row(name: str, results: list[dict]) -> str:
    """The mean over seeds of the test accuracies (and of the wall time)."""
    def mean(get):
        values = [get(r["metrics"]) for r in results]
        return f"**{statistics.mean(values):.4f}**" if None not in values else "—"

    cells = " | ".join([""] * len(THRESHOLDS))
    wall = statistics.mean(r["wall_s"] for r in results) / 60
    return (f"| {name}, mean of {len(results)} seeds | {cells} | | {mean(lambda m: m['test_accuracy'])} | "
            f"{mean(lambda m: (tta_result(m) or (None,))[0])} | | {wall:.1f} | | | |")  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--configs", nargs="+", help="config names under configs/ (default: all that train here)")
    parser.add_argument("--set", dest="sets", action="append", default=[], help="a --set for every run")
    parser.add_argument("--seeds", nargs="+", type=int, help="train each config once per seed (default: its own)")
    parser.add_argument("--output", type=Path, default=RESULTS, help="default: its section of benchmarks/RESULTS.md")
    parser.add_argument("--section", default="time_to_accuracy",
                        help="the RESULTS.md section to write (another name keeps the main table)")
    args = parser.parse_args()
    shipped = sorted(p.stem for p in (REPO / "configs").glob("*.yaml"))
    names = args.configs or shipped
    command = " ".join(["python benchmarks/time_to_accuracy.py"] + sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M")
    peak = peak_flops()
    print(f"peak float32 matmul: {peak / 1e9:.1f} GFLOP/s", flush=True)
    out = Path(tempfile.mkdtemp(prefix="cnnlab-tta-"))
    lines, skipped = [], []
    for name in names:
        config = REPO / "configs" / f"{name}.yaml"
        why = trainable_here(config)
        if why:
            skipped.append(f"{name} ({why})")
            continue
        flops, results = forward_flops(config, args.sets), []
        for seed in args.seeds or [None]:
            label = name if seed is None else f"{name} (seed {seed})"
            print(f"training {label} ...", flush=True)
            results.append(train(config, args.sets + ([f"seed={seed}"] if seed is not None else []), out))
            lines.append(row_text(label, results[-1], flops, peak))
            print(lines[-1], flush=True)
        if len(results) > 1:
            lines.append(mean_row(name, results))
    thresholds = " | ".join(f"min to ≥ {t:.2f}" for t in THRESHOLDS)
    text = "\n".join([
        "## Time to accuracy of the shipped configs" + (", by seed" if args.seeds else ""),
        "",
        f"Generated by `{command}` on {started}; do not edit by hand.",
        "",
        f"Machine: {machine()}.",
        f"Peak: a 2048x2048 float32 matmul, {peak / 1e9:.1f} GFLOP/s.",
        "",
        "Minutes from the command's start to the end of the first epoch whose **validation** accuracy reaches the",
        "threshold (— = not reached). Test accuracy is the kept model's; TTA: the same model averaging each",
        "test image's prediction over the views it trained on (1-pixel shifts, mirrors). Wall = the whole command, report included.",
        "Images/s: training images over the median epoch after the first (an epoch includes its validation);",
        "of peak = images/s × 3 × forward FLOPs / peak.",
        "",
        f"| config | {thresholds} | best val acc | test acc | TTA | epochs | wall min | train images/s | "
        "forward MFLOP/image | of peak |",
        "|---|" + "---:|" * (len(THRESHOLDS) + 8),
        *lines,
        "",
        ("Not run: " + "; ".join(skipped) + "." if skipped else ""),
        ("Not asked for (--configs): " + ", ".join(n for n in shipped if n not in names) + "."
         if set(shipped) - set(names) else ""),
        (f"Every run with: {', '.join('--set ' + s for s in args.sets)}." if args.sets else ""),
    ]).rstrip() + "\n"  # fmt: skip
    print(text)
    if args.output == RESULTS:
        write_section(args.section, text.rstrip())
    else:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
