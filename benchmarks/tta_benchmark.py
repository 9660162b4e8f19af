"""Test-time augmentation: does averaging over N augmented copies help, and what does it cost?

    python benchmarks/tta_benchmark.py                  # fashion-aug on 12,000 images, 8 epochs (~5 min, 2 cores)
    python benchmarks/tta_benchmark.py --limit 3000 --epochs 2

Trains configs/fashion-aug.yaml (and a variant without random erasing, whose erased
patches are augmentation for training but noise for a test prediction) on a subset,
then evaluates each model on its test images with --tta N for N in 1, 2, 4, 8, 16:
accuracy (median of 3 repeats: TTA draws new augmentations each time) and seconds,
against the plain prediction measured in the same process. Prints a Markdown table.
"""

from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--limit", type=int, default=12000)
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--copies", default="1,2,4,8,16")
    args = parser.parse_args()
    from cnnlab.config import load_config
    from cnnlab.inspect.evaluate import predict_probabilities, run_test_data
    from cnnlab.runs import load_run
    from cnnlab.train import train
    from cnnlab.inspect.tta import tta_probabilities

    common = [f"data.limit={args.limit}", f"train.epochs={args.epochs}", "train.verbose=0", "train.tensorboard=false"]
    variants = {"fashion-aug": [], "fashion-aug without random_erasing": ["augment.random_erasing=0"]}
    print(f"fashion-aug, data.limit={args.limit}, {args.epochs} epochs (early stopping on); "
          f"test images: {min(args.limit, 10000)}")
    print("\n| model | copies | test accuracy | seconds |\n|---|---|---|---|")
    with tempfile.TemporaryDirectory() as out:
        for label, extra in variants.items():
            run = train(load_config(REPO / "configs" / "fashion-aug.yaml", common + extra), Path(out))
            loaded = load_run(str(run))
            x, y = run_test_data(loaded)
            started = time.perf_counter()
            plain = predict_probabilities(loaded.model, x)
            seconds = time.perf_counter() - started
            print(f"| {label} | none | {(plain.argmax(1) == y).mean():.4f} | {seconds:.2f} |")
            for n in map(int, args.copies.split(",")):
                accuracies, times = [], []
                for _ in range(3):
                    started = time.perf_counter()
                    probs = tta_probabilities(loaded.model, x, n)
                    times.append(time.perf_counter() - started)
                    accuracies.append(float((probs.argmax(1) == y).mean()))
                print(f"| {label} | {n} | {statistics.median(accuracies):.4f} "
                      f"({min(accuracies):.4f}-{max(accuracies):.4f}) | {statistics.median(times):.2f} |", flush=True)


if __name__ == "__main__":
    main()
