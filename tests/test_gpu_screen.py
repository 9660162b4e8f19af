"""benchmarks/gpu/run_screen.sh and gpu_benchmark.py screen, run here on the TensorFlow
backend (the lent GPU machines run them on JAX): a jobs file's comments are skipped, each
job's --set and --tag reach its rows, and a model trained on shifts and flips gets the
accuracy with TTA beside the plain one; `report` turns the rows into a table row per run."""

from __future__ import annotations

import json
import os
import subprocess
import sys

import pytest
import yaml

from tests.conftest import REPO


@pytest.mark.slow
def test_run_screen_trains_each_job_with_its_overrides(tmp_path):
    recipe = tmp_path / "tiny.yaml"
    recipe.write_text(yaml.safe_dump({
        "base": str(REPO / "configs" / "fashion-best.yaml"),
        "data": {"limit": 300, "batch_size": 64},
        "model": {"layers": [
            {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu", "padding": "same"},
            {"type": "MaxPooling2D", "pool_size": 2},
            {"type": "Flatten"},
            {"type": "Dense", "units": 10, "activation": "softmax"},
        ]},
    }))  # fmt: skip
    jobs = tmp_path / "jobs.txt"
    jobs.write_text(f"# a comment line\n\n{recipe} --tag tiny-s43 --set train.epochs=2 --set seed=43\n")
    out = tmp_path / "out"
    out.mkdir()
    env = {**os.environ, "OUT": str(out), "JOBS": str(jobs), "PY": sys.executable, "KERAS_BACKEND": "tensorflow"}
    result = subprocess.run(["bash", "benchmarks/gpu/run_screen.sh"], cwd=REPO, env=env, capture_output=True,
                            text=True, timeout=300)  # fmt: skip
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 jobs in" in result.stdout, result.stdout
    rows = [json.loads(line) for line in (out / "screen.jsonl").read_text().splitlines()]
    assert [r["epoch"] for r in rows] == [1, 2], (out / "job1.txt").read_text()[-2000:]
    assert {r["recipe"] for r in rows} == {"tiny-s43"} and {r["seed"] for r in rows} == {43}
    for row in rows:  # fashion-best trains on shifts and mirrors: 10 views
        assert 0.0 <= row["test_accuracy"] <= 1.0 and 0.0 <= row["test_accuracy_tta"] <= 1.0

    results = tmp_path / "RESULTS.md"
    report = subprocess.run([sys.executable, "benchmarks/gpu_benchmark.py", "report", str(out), "--output", str(results)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert report.returncode == 0, report.stderr[-2000:]
    table_row = next(line for line in results.read_text().splitlines() if line.startswith("| tiny-s43 (seed 43) |"))
    cells = [c.strip() for c in table_row.strip("|").split("|")]
    best = max(rows, key=lambda r: r["val_accuracy"])  # epochs, batch, ..., TTA there
    assert cells[1:3] == ["2", "64"] and cells[6] == f"{best['test_accuracy_tta']:.4f}", table_row


def test_report_labels_seeds_reruns_and_runs_cut_short(tmp_path):
    def rows(run, epochs, tag="best", seed=42):
        return [{"recipe": tag, "config": "configs/fashion-best.yaml", "sets": ["train.epochs=4"], "run": run,
                 "seed": seed, "epoch": e, "val_accuracy": 0.9 + e / 100, "test_accuracy": 0.89 + e / 100,
                 "seconds": e} for e in range(1, epochs + 1)]  # fmt: skip

    legacy = [{"recipe": "r0-best", "epoch": 1, "val_accuracy": 0.9, "test_accuracy": 0.89, "seconds": 1.0}]
    lines = legacy + rows("a", 4) + rows("b", 2) + rows("c", 4, seed=43)
    (tmp_path / "screen.jsonl").write_text("".join(json.dumps(r) + "\n" for r in lines))
    results = tmp_path / "RESULTS.md"
    report = subprocess.run([sys.executable, "benchmarks/gpu_benchmark.py", "report", str(tmp_path), "--output", str(results)],
                            cwd=REPO, capture_output=True, text=True, timeout=120)  # fmt: skip
    assert report.returncode == 0, report.stderr[-2000:]
    table = {row.split("|")[1].strip(): [c.strip() for c in row.strip("|").split("|")]
             for row in results.read_text().splitlines() if row.startswith("| ") and "---" not in row}  # fmt: skip
    assert table["best (seed 42)"][1] == "4" and table["best (seed 42), run 2"][1] == "2/4"
    assert table["best (seed 43)"][1] == "4" and table["best (seed 43)"][6] == "—"  # no TTA recorded
    assert table["r0-best"][3] == "1.00"  # the earlier screen's rows: cost from recipes/NAME.yaml
    assert "throughput" not in results.read_text().lower()  # no throughput.jsonl, no section
