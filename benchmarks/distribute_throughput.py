"""Images/s of the textbook model (configs/fashion.yaml) trained by `cnnlab train`
in one process vs `cnnlab train --workers 2` (MultiWorkerMirroredStrategy over
loopback), same global batch, same Fashion-MNIST subset. Not a test: run it by hand.

    python benchmarks/distribute_throughput.py [--limit 6000] [--epochs 4] [--repeats 2] [--resnet50]

Per run: train images / epoch_seconds from history.csv (epoch_seconds includes the
validation pass), median over the epochs after the first (the first traces the
graph). Repeats alternate 1 process / 2 workers. ``--resnet50`` also times a few
ResNet50 (224x224x3, weights=None) training steps in one process, the per-step compute
that docs/SCALING.md extrapolates from.

What 2 workers on one machine can show: that the collective all-reduce works and what
it costs on top of the compute (gradient exchange over loopback, one small stop-vote
all-reduce per batch, two TensorFlow runtimes). What it cannot show: speed-up. Two
processes share the same CPU cores that one process already uses (TensorFlow's
intra-op threads take every core), so 2 workers can at best match 1 process.
"""

from __future__ import annotations

import argparse
import csv
import json
import os
import re
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def train_run(limit: int, epochs: int, workers: int, out: Path) -> dict:
    args = [sys.executable, "-m", "cnnlab", "train", "configs/fashion.yaml", "--output-dir", str(out),
            "--set", f"data.limit={limit}", "--set", f"train.epochs={epochs}", "--set", "train.verbose=0",
            "--set", "train.tensorboard=false", "--set", "train.early_stopping.enabled=false"]  # fmt: skip
    if workers > 1:
        args += ["--workers", str(workers)]
    started = time.perf_counter()
    done = subprocess.run(args, check=False, cwd=REPO, capture_output=True, text=True, env={**os.environ, "PYTHONPATH": str(REPO)})
    wall = time.perf_counter() - started
    if done.returncode:
        sys.exit(f"cnnlab train failed ({done.returncode}): {done.stderr[-1500:]}")
    run = Path(re.search(r"run saved to (.+)", done.stdout).group(1).strip())
    with open(run / "history.csv", newline="") as f:
        seconds = [float(row["epoch_seconds"]) for row in csv.DictReader(f)]
    n_train = int(limit * 0.8)  # configs/fashion.yaml: validation_split 0.2
    steady = seconds[1:] or seconds
    metrics = json.loads((run / "metrics.json").read_text())
    return {
        "workers": workers,
        "train_images": n_train,
        "epoch_seconds": seconds,
        "images_per_s": round(n_train / statistics.median(steady), 1),
        "step_ms": round(1000 * statistics.median(steady) / -(-n_train // 32), 2),
        "test_accuracy": metrics["test_accuracy"],
        "wall_seconds": round(wall, 1),
    }


def resnet50_step(batch: int, steps: int) -> dict:
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    import keras
    import numpy as np

    model = keras.applications.ResNet50(weights=None, input_shape=(224, 224, 3), classes=1000)
    model.compile("sgd", "sparse_categorical_crossentropy")
    x = np.random.default_rng(0).random((batch, 224, 224, 3), dtype=np.float32)
    y = np.zeros(batch, np.int64)
    model.train_on_batch(x, y)  # trace
    times = []
    for _ in range(steps):
        t = time.perf_counter()
        model.train_on_batch(x, y)
        times.append(time.perf_counter() - t)
    step = statistics.median(times)
    return {"params": model.count_params(), "batch": batch, "step_s": round(step, 3), "images_per_s": round(batch / step, 2)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--limit", type=int, default=6000)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--repeats", type=int, default=2)
    parser.add_argument("--resnet50", action="store_true")
    a = parser.parse_args()
    results = {1: [], 2: []}
    with tempfile.TemporaryDirectory() as tmp:
        for r in range(a.repeats):
            for workers in (1, 2):
                result = train_run(a.limit, a.epochs, workers, Path(tmp) / f"{r}-{workers}")
                results[workers].append(result)
                print(json.dumps(result), flush=True)
    one = statistics.median(r["images_per_s"] for r in results[1])
    two = statistics.median(r["images_per_s"] for r in results[2])
    print(json.dumps({"cores": os.cpu_count(), "images_per_s_1_process": one, "images_per_s_2_workers": two,
                      "ratio_2_workers_over_1": round(two / one, 3),
                      "step_ms_1_process": statistics.median(r["step_ms"] for r in results[1])}))  # fmt: skip
    if a.resnet50:
        print(json.dumps({"resnet50_cpu": resnet50_step(batch=8, steps=3)}), flush=True)


if __name__ == "__main__":
    main()
