"""Export benchmark: the same trained model as Keras, SavedModel, TFLite (float, dynamic,
float16, int8) and ONNX Runtime (float, dynamic), measured in ONE run on this CPU.

    python benchmarks/export_benchmark.py                  # trains configs/fashion.yaml for 3 epochs first
    python benchmarks/export_benchmark.py RUN              # an existing run (full Fashion-MNIST test set)
    python benchmarks/export_benchmark.py --epochs 1 --repeats 200

Per variant: size on disk (the artifact; model.keras for Keras), batch-1 latency (median
of --repeats single-image calls after 20 warm-up calls), throughput (images/s over the
whole test set in batches of 256) and accuracy on the whole test split. Keras is called
as ``model(x, training=False)`` for batch 1 (eager, how a notebook calls it) and with
``model.predict`` for throughput. Every runtime uses its default thread count.
Needs the export extra: pip install 'cnnlab[export]'.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

VARIANTS = [  # (label, format, quantize)
    ("SavedModel (TF)", "savedmodel", "none"),
    ("TFLite float32", "tflite", "none"),
    ("TFLite dynamic-range int8", "tflite", "dynamic"),
    ("TFLite float16 weights", "tflite", "float16"),
    ("TFLite int8 (uint8 in/out)", "tflite", "int8"),
    ("ONNX Runtime float32", "onnx", "none"),
    ("ONNX Runtime dynamic int8", "onnx", "dynamic"),
]


def latency_ms(call, image: np.ndarray, repeats: int) -> float:
    for _ in range(20):
        call(image)
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        call(image)
        times.append(time.perf_counter() - start)
    return statistics.median(times) * 1000


def throughput(predict, x: np.ndarray) -> tuple[float, np.ndarray]:
    predict(x[:256])  # warm-up (and TFLite's resize to batch 256)
    start = time.perf_counter()
    probs = predict(x)
    return len(x) / (time.perf_counter() - start), probs


def size_mb(path: Path) -> float:
    files = [path] if path.is_file() else [p for p in path.rglob("*") if p.is_file()]
    return sum(p.stat().st_size for p in files) / 2**20


def train_run(epochs: int, out: Path) -> Path:
    from cnnlab.config import load_config
    from cnnlab.train import train

    cfg = load_config(REPO / "configs/fashion.yaml", [f"train.epochs={epochs}", "train.verbose=0", "train.tensorboard=false"])
    return train(cfg, out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("run", nargs="?", help="run directory (default: train configs/fashion.yaml first)")
    parser.add_argument("--epochs", type=int, default=3, help="epochs when training the run here")
    parser.add_argument("--repeats", type=int, default=500, help="batch-1 calls per latency median")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    from cnnlab.backend import keras
    from cnnlab.export import export_run
    from cnnlab.inspect.evaluate import predict_probabilities, run_dataset
    from cnnlab.export.loaders import load_exported
    from cnnlab.runs import load_run

    keras()
    with tempfile.TemporaryDirectory(prefix="cnnlab-export-bench.") as tmp:
        run = Path(args.run) if args.run else train_run(args.epochs, Path(tmp) / "outputs")
        loaded = load_run(str(run))
        data = run_dataset(loaded)
        x, y = data.x_test, data.y_test
        image = x[:1]
        rows = []

        model = loaded.model
        lat = latency_ms(lambda im: model(im, training=False), image, args.repeats)
        ips, probs = throughput(lambda batch: predict_probabilities(model, batch), x)
        rows.append(("Keras (model.keras)", size_mb(run / "model.keras"), lat, ips, float((probs.argmax(1) == y).mean())))
        for label, fmt, quantize in VARIANTS:
            result = export_run(loaded, [fmt], quantize, Path(tmp) / "export", verify_images=300)[0]
            artifact = load_exported(result.path)
            lat = latency_ms(artifact.run_batch, image, args.repeats)
            ips, probs = throughput(lambda batch: artifact.predict(batch, batch_size=256), x)
            rows.append((label, size_mb(result.path), lat, ips, float((probs.argmax(1) == y).mean())))

    print(f"\nrun: {run}; {len(y)} test images; {platform.processor() or platform.machine()}, "
          f"{os.cpu_count()} CPU cores; batch-1 latency: median of {args.repeats} calls\n")  # fmt: skip
    print("| variant | size on disk | batch-1 latency | throughput (batch 256) | test accuracy |")
    print("|---|---:|---:|---:|---:|")
    base = rows[0]
    for label, mb, lat, ips, acc in rows:
        print(f"| {label} | {mb:.2f} MB | {lat:.3f} ms ({base[2] / lat:.1f}x) | {ips:,.0f} img/s ({ips / base[3]:.1f}x) "
              f"| {acc:.4f} |")  # fmt: skip


if __name__ == "__main__":
    main()
