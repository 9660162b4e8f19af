"""Image folders in memory vs streamed from disk (issue 18): peak RSS, time to the first
batch, and input-pipeline images/s, on generated folders of 224x224 JPEGs.

Each (size, data.cache) pair runs in a fresh child process, so its peak RSS is its own.
"Time to first batch" is load_dataset (listing, header check, and for `memory` decoding
everything; for `disk` decoding into the cache on a first run) plus the first training
batch. "images/s" is one full epoch of the training pipeline (shuffled, batch 64, no
model): the rate the input side can feed a model. Not a test: run it by hand.

    python benchmarks/stream_benchmark.py [--sizes 2000 6000 20000] [--modes memory none disk]
                                          [--folder /tmp/cnnlab-stream-bench] [--out table.md]

Folders are generated once under --folder (10 classes, random-noise JPEGs of 224x224)
and reused by later runs.
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

SIDE = 224
CLASSES = 10


def make_folder(root: Path, n: int) -> Path:
    from PIL import Image

    folder = root / f"jpeg{SIDE}-{n}"
    done = folder / ".complete"
    if done.exists():
        return folder
    rng = np.random.default_rng(n)
    base = rng.integers(0, 256, (SIDE // 8, SIDE // 8, 3), np.uint8)
    for i in range(n):
        c = i % CLASSES
        (folder / f"c{c}").mkdir(parents=True, exist_ok=True)
        # smooth-ish content (JPEG of pure noise is unrealistically large): an upscaled tile, shifted per image
        tile = np.roll(base, (i, 3 * i), (0, 1)) // 2 + c * 12
        Image.fromarray(tile).resize((SIDE, SIDE), Image.BILINEAR).save(folder / f"c{c}" / f"{i:06d}.jpg", quality=90)
    done.write_text("")
    return folder


def child(folder: str, mode: str, cache_dir: str) -> dict:
    from cnnlab.backend import tf
    from cnnlab.config.schema import DataConfig
    from cnnlab.data import load_dataset
    from cnnlab.data.pipeline import make_pipeline

    tf()
    started = time.perf_counter()
    cfg = DataConfig(source="directory", path=folder, image_size=(SIDE, SIDE), cache=mode, cache_dir=cache_dir,
                     batch_size=64)  # fmt: skip
    data = load_dataset(cfg, seed=42)
    ds = make_pipeline(data.x_train, data.y_train, 64, shuffle=True, seed=42)
    iterator = iter(ds)
    next(iterator)
    first = time.perf_counter() - started
    t = time.perf_counter()
    seen = sum(int(y.shape[0]) for _, y in ds)
    rate = seen / (time.perf_counter() - t)
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024  # Linux: KiB
    return {"first_batch_s": round(first, 2), "images_per_s": round(rate, 1), "peak_rss_mb": round(peak_mb),
            "train_images": len(data.x_train)}  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", type=int, nargs="+", default=[2000, 6000, 20000])
    parser.add_argument("--modes", nargs="+", default=["memory", "none", "disk"])
    parser.add_argument("--folder", type=Path, default=Path(tempfile.gettempdir()) / "cnnlab-stream-bench")
    parser.add_argument("--out", type=Path, default=None, help="also write the table here")
    parser.add_argument("--child", nargs=3, metavar=("FOLDER", "MODE", "CACHE_DIR"), help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        print(json.dumps(child(*args.child)))
        return
    rows = ["| images | data.cache | peak RSS (MB) | time to first batch (s) | input pipeline (images/s) |",
            "|---:|---|---:|---:|---:|"]  # fmt: skip
    for n in args.sizes:
        folder = make_folder(args.folder, n)
        with tempfile.TemporaryDirectory() as cache_dir:
            for mode in args.modes:
                runs = [mode] if mode != "disk" else ["disk", "disk"]  # disk: first run fills the cache, second reuses it
                for number, m in enumerate(runs):
                    out = subprocess.run([sys.executable, __file__, "--child", str(folder), m, cache_dir],
                                         capture_output=True, text=True, check=True)  # fmt: skip
                    r = json.loads(out.stdout.strip().splitlines()[-1])
                    label = m if m != "disk" else ("disk (first run)" if number == 0 else "disk (reused)")
                    rows.append(f"| {n:,} | {label} | {r['peak_rss_mb']:,} | {r['first_batch_s']} | {r['images_per_s']:,} |")
                    print(rows[-1], flush=True)
    table = "\n".join(rows)
    print("\n" + table)
    if args.out:
        args.out.write_text(table + "\n")


if __name__ == "__main__":
    main()
