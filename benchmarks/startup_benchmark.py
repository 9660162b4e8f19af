"""Whole-process time of the commands that need no model, and of listing many runs,
for this tree against a baseline tree (a git worktree of an older commit), interleaved
in one run so both see the same machine load.

    git worktree add /tmp/base <commit>
    python benchmarks/startup_benchmark.py --baseline /tmp/base [--repeat 5] [--runs 2000]

Prints (and writes to RESULTS.md's "startup" section) the median seconds of --repeat
runs of each command under each tree, and their ratio. It makes what the commands need:
a 1-epoch run on 2,000 Fashion-MNIST images with a TFLite export, a config with a value
error, and an output folder of --runs hand-written run folders.
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE.parent))

from benchmarks.results import machine, write_section  # noqa: E402


def timed(tree: Path, args: list[str], cwd: Path) -> tuple[float, int]:
    env = {**os.environ, "PYTHONPATH": str(tree)}
    started = time.perf_counter()
    done = subprocess.run([sys.executable, "-m", "cnnlab", *args], cwd=cwd, env=env, capture_output=True)
    return time.perf_counter() - started, done.returncode


def prepare(work: Path, runs: int) -> dict[str, list[str]]:
    env = {**os.environ, "PYTHONPATH": str(HERE.parent)}
    out = work / "outputs"
    subprocess.run([sys.executable, "-m", "cnnlab", "train", str(HERE.parent / "configs" / "fashion.yaml"),
                    "--set", "data.limit=2000", "--set", "train.epochs=1", "--no-report", "--output-dir", str(out)],
                   env=env, check=True, capture_output=True)  # fmt: skip
    run = next(out.glob("fashion/*"))
    subprocess.run([sys.executable, "-m", "cnnlab", "export", str(run), "--format", "tflite"], env=env, check=True,
                   capture_output=True)  # fmt: skip
    import numpy as np
    from PIL import Image

    Image.fromarray(np.tile(np.arange(28, dtype=np.uint8) * 9, (28, 1))).save(work / "item.png")
    (work / "bad.yaml").write_text("name: bad\nmodel:\n  layers:\n    - {type: Conv2D, filters: -3, kernel_size: 3}\n")
    many = work / "many"
    keep = ("config.yaml", "status.json", "metrics.json", "summary.txt", "history.csv", "classes.json")
    for i in range(runs):  # what `cnnlab runs` reads of each: the small files, no model
        target = many / f"exp{i % 20}" / f"20260101-{i // 60 % 24:02d}{i % 60:02d}00-{i}"
        target.mkdir(parents=True)
        for name in keep:
            shutil.copy(run / name, target / name)
    return {
        "cnnlab runs (1 run)": ["runs", "--output-dir", str(out)],
        f"cnnlab runs ({runs} runs)": ["runs", "--output-dir", str(many)],
        "cnnlab explain conv --input 7x7 --kernel 3": ["explain", "conv", "--input", "7x7", "--kernel", "3",
                                                       "--output", str(work / "conv.png")],
        "cnnlab summary --input 28x28x1 configs/fashion.yaml": ["summary", "--input", "28x28x1",
                                                                 str(HERE.parent / "configs" / "fashion.yaml")],
        "cnnlab predict RUN/export/tflite/model.tflite IMG": ["predict", str(run / "export" / "tflite" / "model.tflite"),
                                                              str(work / "item.png")],
        "cnnlab train bad.yaml (a layer value error)": ["train", str(work / "bad.yaml")],
    }  # fmt: skip


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another cnnlab tree (a git worktree)")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--runs", type=int, default=2000)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md as it is")
    args = parser.parse_args()
    work = Path(tempfile.mkdtemp(prefix="cnnlab-startup-"))
    try:
        commands = prepare(work, args.runs)
        trees = {"before": args.baseline.resolve(), "after": HERE.parent}
        times = {(label, tree): [] for label in commands for tree in trees}
        for _ in range(args.repeat):  # interleaved: both trees see the same load
            for label, command in commands.items():
                for tree, path in trees.items():
                    seconds, _ = timed(path, command, work)
                    times[(label, tree)].append(seconds)
        load = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)
    lines = [f"Whole process, median of {args.repeat}, interleaved; {machine()}; load average {load:.1f} at the end.",
             "", "| command | before (s) | after (s) | after / before |", "|---|---:|---:|---:|"]  # fmt: skip
    for label in commands:
        before, after = (statistics.median(times[(label, t)]) for t in ("before", "after"))
        lines.append(f"| `{label}` | {before:.2f} | {after:.2f} | {after / before:.2f} |")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("startup", "## Commands that need no model\n\n" + text)
    print(json.dumps({label: {t: statistics.median(times[(label, t)]) for t in trees} for label in commands}))


if __name__ == "__main__":
    main()
