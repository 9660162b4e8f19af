"""Peak memory and time of load_dataset with data.limit and data.image_size (issue 11).

    python benchmarks/limit_resize_memory.py [LIMIT] [SIZE]

Loads Fashion-MNIST with data.limit=LIMIT (default 500) and data.image_size=[SIZE, SIZE]
(default 96) in a fresh process and prints its peak RSS. Run it from two checkouts to
compare (the cnnlab found first on sys.path, i.e. the current directory's, is measured)."""

from __future__ import annotations

import os
import resource
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.getcwd())


def main() -> None:
    limit = int(sys.argv[1]) if len(sys.argv) > 1 else 500
    size = int(sys.argv[2]) if len(sys.argv) > 2 else 96
    import cnnlab
    from cnnlab.backend import tf
    from cnnlab.config import load_config
    from cnnlab.data import load_dataset

    tf()  # TensorFlow's own memory is the same in both; count it before the baseline
    base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    cfg = load_config("configs/fashion.yaml", [f"data.limit={limit}", f"data.image_size=[{size}, {size}]"])
    start = time.perf_counter()
    data = load_dataset(cfg.data, cfg.seed)
    seconds = time.perf_counter() - start
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    print(f"{os.path.dirname(cnnlab.__file__)}: limit={limit} size={size} train={data.x_train.shape} "
          f"load {seconds:.1f} s, peak RSS growth {(peak - base) / 1024:.0f} MiB (after TF import: {base / 1024:.0f} MiB)")


if __name__ == "__main__":
    main()
