"""Accuracy against training minutes on this machine, for finished runs.

    ONEDNN_MAX_CPU_ISA=AVX2 python benchmarks/frontier.py RUN_DIR [RUN_DIR ...]
    python benchmarks/frontier.py RUN_DIR ... --output /tmp/frontier.md     # not into RESULTS.md

Long runs rarely get a quiet machine to themselves for half an hour, and a run's epoch
times are only as quiet as its neighbours were. Its accuracies, though, do not depend on
the load (same config, seed and precision: the same numbers). So each run is priced here
instead: its epochs times the seconds of one epoch of its config, measured in this one
benchmark run, side by side, on whatever this machine is now (the config trained for 2
epochs, the second one's epoch_seconds kept; one measurement per distinct config, in the
run's own precision). The load average is printed beside the measurements.

The table: each run's epochs, test accuracy, TTA accuracy (metrics.json's test_accuracy_tta,
the mean over the views the model trained on; `cnnlab evaluate RUN` measures it again with
this cnnlab), its measured epoch seconds, and the training minutes here (epochs x epoch
seconds), sorted by minutes: the frontier of accuracy against time. Runs that differ only in
their seed get a row with their means. Results go to stdout and to this benchmark's section of
benchmarks/RESULTS.md (or --output).
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

import yaml
from results import RESULTS, machine, write_section
from time_to_accuracy import train

from cnnlab.runs.read import tta_result

REPO = Path(__file__).resolve().parents[1]
# config keys that change what a run learns or how long it runs, not the cost of one epoch
NOT_COST = ("seed", "name")


def cost_key(config: dict) -> str:
    """The config with what does not change an epoch's cost removed: runs that differ only
    in seed or length share one measurement."""
    kept = {k: v for k, v in config.items() if k not in NOT_COST}
    train_section = dict(kept.get("train") or {})
    train_section.pop("epochs", None)
    return json.dumps({**kept, "train": train_section}, sort_keys=True)


def epoch_seconds(config_file: Path, precision: str, out: Path) -> float:
    """Seconds of the second epoch of this config, trained for 2 epochs in its own process."""
    sets = ["train.epochs=2", "train.early_stopping.enabled=false",
            f"train.mixed_precision={'false' if precision == 'float32' else precision}"]  # fmt: skip
    return float(train(config_file, sets, out)["rows"][-1]["epoch_seconds"])


def read_run(run: Path) -> dict:
    metrics = json.loads((run / "metrics.json").read_text())
    with open(run / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {"path": run, "config": yaml.safe_load((run / "config.yaml").read_text()), "metrics": metrics,
            "epochs": len(rows), "best_val": max(float(r["val_accuracy"]) for r in rows if r.get("val_accuracy"))}  # fmt: skip


def seed_means(runs: list[dict]) -> list[str]:
    """A row of means for each group of two or more runs that differ only in their seed."""
    groups: dict[tuple, list[dict]] = {}
    for run in runs:
        groups.setdefault((cost_key(run["config"]), run["epochs"]), []).append(run)
    rows = []
    for group in groups.values():
        if len(group) < 2:
            continue
        ttas = [tta_result(r["metrics"]) for r in group]
        tta = f"**{statistics.mean(t[0] for t in ttas):.4f}**" if None not in ttas else "—"
        test = statistics.mean(r["metrics"]["test_accuracy"] for r in group)
        rows.append(f"| {group[0]['config'].get('name')}, mean of {len(group)} seeds | | | {group[0]['epochs']} | | "
                    f"**{test:.4f}** | {tta} | | | {statistics.mean(r['minutes'] for r in group):.1f} |")  # fmt: skip
    return rows


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("runs", nargs="+", type=Path, help="finished run directories")
    parser.add_argument("--output", type=Path, default=RESULTS, help="default: its section of benchmarks/RESULTS.md")
    args = parser.parse_args()
    command = " ".join(["python benchmarks/frontier.py"] + sys.argv[1:])
    started = time.strftime("%Y-%m-%d %H:%M")
    runs = [read_run(r) for r in args.runs]
    out = Path(tempfile.mkdtemp(prefix="cnnlab-frontier-"))
    measured: dict[tuple, float] = {}
    loads = []
    for run in runs:
        precision = run["metrics"].get("precision", "float32")
        key = (cost_key(run["config"]), precision)
        if key not in measured:
            print(f"timing an epoch of {run['config'].get('name')} ({precision}) ...", flush=True)
            loads.append(os.getloadavg()[0])
            measured[key] = epoch_seconds(run["path"] / "config.yaml", precision, out)
        run["epoch_s"] = measured[key]
        run["minutes"] = run["epochs"] * run["epoch_s"] / 60
    lines = []
    for run in sorted(runs, key=lambda r: r["minutes"]):
        m, tta = run["metrics"], tta_result(run["metrics"])
        lines.append(f"| {run['config'].get('name')} | {run['path'].name} | {run['config'].get('seed')} | {run['epochs']} | "
                     f"{run['best_val']:.4f} | {m['test_accuracy']:.4f} | {f'{tta[0]:.4f}' if tta else '—'} | "
                     f"{len(tta[1]) if tta else '—'} | {run['epoch_s']:.1f} | {run['minutes']:.1f} |")  # fmt: skip
    lines += seed_means(runs)
    text = "\n".join([
        "## Accuracy against training minutes (frontier)",
        "",
        f"Generated by `{command}` on {started}; do not edit by hand.",
        "",
        f"Machine: {machine()}. Load average when each epoch was timed: "
        + ", ".join(f"{x:.1f}" for x in loads) + ".",
        "",
        "Each run's accuracies are its own; its minutes are its epochs times one epoch of its config timed here,",
        "side by side (the runs themselves trained under varying load). TTA: each test image's prediction",
        "averaged over the views the model trained on (1-pixel shifts and mirrors; `views` counts them).",
        "",
        "| config | run | seed | epochs | best val acc | test acc | TTA | views | s per epoch here | training min here |",
        "|---|---|---:|---:|---:|---:|---:|---:|---:|---:|",
        *lines,
    ]) + "\n"  # fmt: skip
    print(text)
    if args.output == RESULTS:
        write_section("frontier", text.rstrip())
    else:
        args.output.write_text(text)


if __name__ == "__main__":
    main()
