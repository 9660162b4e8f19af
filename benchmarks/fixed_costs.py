"""Fixed costs of `cnnlab train`: seconds from the command to the first training batch
(head) and from the last training batch to the process's exit (tail: evaluation, plots,
report.html, network.html), for this tree against a baseline tree, interleaved.

    git worktree add --detach /tmp/base <commit>
    python benchmarks/fixed_costs.py --baseline /tmp/base [--repeat 3]

Each run is `cnnlab train configs/fashion.yaml` on the full Fashion-MNIST, one epoch,
quiet, no TensorBoard, with --profile. The batches are seen from outside the measured
code: fixed_costs_hook/sitecustomize.py (put on PYTHONPATH) adds a callback to
keras.Model.fit that writes the wall-clock times of the first batch's start and the last
batch's end, so both trees are measured the same way. Prints (and writes to RESULTS.md's
"fixed-costs" section) the medians, and the median of each --profile part.
"""

from __future__ import annotations

import argparse
import json
import os
import re
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

HOOK = HERE / "fixed_costs_hook"
CONFIG = HERE.parent / "configs" / "fashion.yaml"
SETTINGS = ["train.epochs=1", "train.verbose=0", "train.tensorboard=false"]
COMMAND = "cnnlab train configs/fashion.yaml " + " ".join(f"--set {s}" for s in SETTINGS) + " --profile"
PART = re.compile(r"^  (.+?)\s+([\d.]+) s\s+[\d.]+ %$")


def one_run(tree: Path, work: Path) -> dict[str, float]:
    """Head, train, tail and total seconds of one `cnnlab train`, and its --profile parts."""
    marks, out = work / "marks.json", work / "outputs"
    env = {**os.environ, "PYTHONPATH": f"{HOOK}{os.pathsep}{tree}", "CNNLAB_FIXED_COSTS_FILE": str(marks)}
    args = [sys.executable, "-m", "cnnlab", "train", str(CONFIG), *(a for s in SETTINGS for a in ("--set", s)),
            "--profile", "--output-dir", str(out)]  # fmt: skip
    started = time.time()  # the clock the hook writes
    done = subprocess.run(args, cwd=work, env=env, capture_output=True, text=True)
    ended = time.time()
    if done.returncode:
        sys.exit(f"{tree}: cnnlab train failed ({done.returncode}):\n{done.stderr[-3000:]}")
    seen = json.loads(marks.read_text())
    marks.unlink()
    shutil.rmtree(out, ignore_errors=True)
    times = {
        "head": seen["first_batch_begin"] - started,
        "train": seen["last_batch_end"] - seen["first_batch_begin"],
        "tail": ended - seen["last_batch_end"],
        "tail: end of fit": seen["train_end"] - seen["last_batch_end"],  # the last validation, epoch-end callbacks
        "tail: after fit": ended - seen["train_end"],  # evaluation, plots, report, exit
        "total": ended - started,
    }
    for line in done.stderr.split("time by part:", 1)[-1].splitlines():
        if (m := PART.match(line)) and m.group(1) != "total":
            times["part: " + m.group(1)] = float(m.group(2))
    return times


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--baseline", type=Path, required=True, help="another cnnlab tree (a git worktree)")
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--no-write", action="store_true", help="print only; leave RESULTS.md as it is")
    args = parser.parse_args()
    trees = {"before": args.baseline.resolve(), "after": HERE.parent}
    runs: dict[str, list[dict[str, float]]] = {tree: [] for tree in trees}
    work = Path(tempfile.mkdtemp(prefix="cnnlab-fixed-costs-"))
    try:
        for i in range(args.repeat):  # interleaved, the first tree alternating: both see the same load
            for tree, path in list(trees.items())[:: 1 if i % 2 == 0 else -1]:
                runs[tree].append(one_run(path, work))
                print(f"run {i + 1}/{args.repeat} {tree}: " + ", ".join(f"{k} {v:.2f}" for k, v in runs[tree][-1].items()
                                                                          if not k.startswith("part")), file=sys.stderr)  # fmt: skip
        load = os.getloadavg()[0]
    finally:
        shutil.rmtree(work, ignore_errors=True)

    def median(tree: str, key: str) -> float:
        return statistics.median(r.get(key, 0.0) for r in runs[tree])

    keys = list(dict.fromkeys(k for tree in trees for r in runs[tree] for k in r))
    labels = {"head": "head: command to first training batch", "train": "training batches (not a fixed cost)",
              "tail": "tail: last training batch to process exit", "total": "total",
              "tail: end of fit": "… of which the last validation and epoch-end callbacks",
              "tail: after fit": "… of which evaluation, plots, report.html, network.html, exit"}  # fmt: skip
    lines = [f"`{COMMAND}`, full Fashion-MNIST (60,000 + 10,000 images); median of {args.repeat}, interleaved (alternating which runs first); "
             f"{machine()}; load average {load:.1f} at the end.", "",
             "| seconds | before | after | after / before |", "|---|---:|---:|---:|"]  # fmt: skip
    for key in keys:
        before, after = median("before", key), median("after", key)
        ratio = f"{after / before:.2f}" if before else "–"
        lines.append(f"| {labels.get(key, key)} | {before:.2f} | {after:.2f} | {ratio} |")
    text = "\n".join(lines)
    print(text)
    if not args.no_write:
        write_section("fixed-costs", "## Fixed costs of cnnlab train (start-up and the end)\n\n" + text)
    print(json.dumps({tree: {k: median(tree, k) for k in keys} for tree in trees}))


if __name__ == "__main__":
    main()
