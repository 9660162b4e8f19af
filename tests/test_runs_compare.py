"""cnnlab runs and cnnlab compare on copies of a real run: finished, interrupted,
failed, killed and damaged runs listed newest first; metrics, overlaid curves and the
config keys that differ; the --html page self-contained; the errors."""

from __future__ import annotations

import json
import shutil
import socket
from pathlib import Path

import pytest
from PIL import Image

from tests.test_report import check_self_contained

HEAVY = shutil.ignore_patterns("*.keras", "*.h5", "plots", "report.html")  # listing needs neither


@pytest.fixture(scope="module")
def outputs(fashion_run, tmp_path_factory) -> Path:
    """An output folder with runs in every state (stamps give the order)."""
    out = tmp_path_factory.mktemp("outputs")

    def copy(name, stamp):
        return Path(shutil.copytree(fashion_run, out / name / stamp, ignore=HEAVY))

    copy("fashion", "20260101-120000")  # done
    run = copy("fashion", "20260102-090000")
    (run / "metrics.json").unlink()
    (run / "status.json").write_text(json.dumps({"state": "interrupted", "epoch": 1, "epochs": 5}))
    run = copy("wider", "20260103-080000")
    config = (run / "config.yaml").read_text().replace("name: fashion", "name: wider").replace("seed: 42", "seed: 7")
    (run / "config.yaml").write_text(config.replace("filters: 32", "filters: 48", 1))
    (run / "metrics.json").unlink()
    (run / "status.json").write_text(json.dumps({"state": "failed", "epoch": 1, "epochs": 3, "error": "disk full"}))
    run = copy("fashion", "20260104-070000")  # killed: says running, but its process is gone
    (run / "status.json").write_text(json.dumps({"state": "running", "epoch": 1, "pid": 2**22 + 1, "host": socket.gethostname()}))
    run = copy("broken", "20260105-060000")
    (run / "status.json").write_text("{")
    (run / "metrics.json").unlink()
    history = (run / "history.csv").read_text()
    (run / "history.csv").write_text(history[:-10])
    (run / "summary.txt").unlink()
    (out / "notes.txt").write_text("not a run")
    (out / "fashion" / "augment-preview.png").write_bytes(b"")
    (out / "fashion" / "not-a-run").mkdir()
    return out


def test_runs_lists_every_run_newest_first_with_its_state(cli, outputs):
    result = cli("runs", "--output-dir", outputs)
    assert result.exit_code == 0, result.output
    lines = result.stdout.strip().splitlines()
    assert lines[0].split() == ["name", "started", "status", "epochs", "best", "test", "acc", "train", "time", "params", "path"]
    rows = [line.split() for line in lines[1:]]
    assert [(r[0], r[3]) for r in rows] == [("fashion", "unknown"), ("fashion", "stopped"), ("wider", "failed"),
                                            ("fashion", "interrupted"), ("fashion", "done")]  # fmt: skip
    assert rows[3][4] == "1/5" and rows[3][6] == "-"  # interrupted: 1 of 5 epochs, no test accuracy yet
    done = rows[4]
    assert done[1:3] == ["2026-01-01", "12:00:00"] and done[9] == "333,526" and done[-1].endswith("fashion/20260101-120000")
    assert rows[0][-2] == "-" and rows[0][-1].endswith("broken/20260105-060000")  # no summary.txt: no parameter count


def test_runs_json(cli, outputs, fashion_run):
    result = cli("runs", "--output-dir", outputs, "--json")
    assert result.exit_code == 0
    rows = json.loads(result.stdout)
    assert len(rows) == 5 and rows[-1]["status"] == "done"
    metrics = json.loads((fashion_run / "metrics.json").read_text())
    assert rows[-1]["test_accuracy"] == metrics["test_accuracy"] and rows[-1]["best_epoch"] == metrics["best_epoch"]
    assert rows[-1]["parameters"] == 333526 and rows[-1]["train_seconds"] == metrics["train_seconds"]
    broken = rows[0]
    assert broken["name"] == "fashion"  # from its config.yaml
    assert any(p.startswith("status.json: damaged") for p in broken["problems"])
    assert any(p.startswith("history.csv: 1 damaged row") for p in broken["problems"])


def test_runs_empty_and_missing_folder(cli, tmp_path):
    result = cli("runs", "--output-dir", tmp_path)
    assert result.exit_code == 0
    assert result.stdout.strip() == f"no runs under {tmp_path}/ yet; train one with: cnnlab train configs/fashion.yaml"
    result = cli("runs", "--output-dir", tmp_path / "nowhere")
    assert result.exit_code == 1
    assert result.stderr.strip() == (f"Error: output directory '{tmp_path / 'nowhere'}' does not exist; "
                                     "pass --output-dir where your runs are (default: outputs)")  # fmt: skip


def test_compare_table_curves_and_config_diff(cli, outputs, tmp_path):
    a, b, c = outputs / "fashion" / "20260101-120000", outputs / "wider" / "20260103-080000", outputs / "broken" / "20260105-060000"
    png, page = tmp_path / "curves.png", tmp_path / "compare.html"
    result = cli("compare", a, b, c, "--output", png, "--html", page)
    assert result.exit_code == 0, result.output
    out = result.stdout
    table = out.split("\n\n")[0].splitlines()
    assert table[0].split()[:4] == ["run", "status", "epochs", "best"]
    assert [line.split()[:2] for line in table[1:]] == [["fashion/20260101-120000", "done"],
                                                        ["wider/20260103-080000", "failed"],
                                                        ["broken/20260105-060000", "unknown"]]  # fmt: skip
    diff = out.split("config keys that differ:\n")[1].split("\n\n")[0].splitlines()
    assert diff[0].split() == ["key", "fashion/20260101-120000", "wider/20260103-080000", "broken/20260105-060000"]
    assert [line.split()[1:] for line in diff[1:3]] == [["fashion", "wider", "fashion"], ["42", "7", "42"]]
    # issue 24: the layer lists side by side, one row per layer in order, the differing row marked
    layer_rows = diff[3:]
    assert [line.split()[0] for line in layer_rows] == [f"model.layers.{i}" for i in range(8)]
    assert layer_rows[0].split("  ")[0].strip() == "model.layers.0 *" and "Conv2D(filters=48," in layer_rows[0]
    assert [row.split()[1] == "*" for row in layer_rows] == [True] + [False] * 7
    assert "model.layers.0.filters" not in out
    from cnnlab.inspect.compare import compare_runs, curves_figure

    figure = curves_figure(compare_runs([a, b, c]))
    legend = [t.get_text() for t in figure.axes[0].get_legend().get_texts()]
    assert legend[:2] == ["fashion, seed=42 (fashion/20260101-120000)", "wider, seed=7"]  # values, not stamps
    assert "broken/20260105-060000: status.json: damaged" in out
    assert f"curves written to {png}" in out and f"page written to {page}" in out
    with Image.open(png) as image:
        assert image.width > 500
    html = check_self_contained(page.read_text())
    assert {"metrics", "curves", "config-diff"} <= html.ids
    assert "model.layers.0 *" in html.text and "data.source" not in html.text


def test_compare_identical_configs_and_default_png(cli, outputs, tmp_path):
    a, b = outputs / "fashion" / "20260101-120000", outputs / "fashion" / "20260102-090000"
    result = cli("compare", a, b, "--output-dir", tmp_path)
    assert result.exit_code == 0, result.output
    assert "the configs are identical" in result.stdout
    (png,) = tmp_path.glob("compare-*.png")
    assert f"curves written to {png}" in result.stdout


@pytest.mark.parametrize(("args", "code", "error"), [
    (["one"], 2, "Error: give at least two runs to compare (cnnlab runs lists them); see 'cli compare --help'"),
    (["{a}", "nowhere"], 1, "Error: run 'nowhere' does not exist; pass run directories such as outputs/<name>/<stamp> (cnnlab runs lists them)"),
    (["{a}", "{out}"], 1, "Error: '{out}' is not a run directory (no config.yaml, status.json, history.csv or model.keras); cnnlab runs lists them"),
    (["{a}", "{a}", "--output", "{a}/config.yaml/x.png"], 1, "Error: cannot write {a}/config.yaml/x.png: {a}/config.yaml is a file, not a folder; choose another path"),
])  # fmt: skip
def test_compare_errors(cli, outputs, tmp_path, monkeypatch, args, code, error):
    monkeypatch.chdir(tmp_path)
    names = {"a": outputs / "fashion" / "20260101-120000", "out": outputs}
    result = cli("compare", *[arg.format(**names) for arg in args])
    assert result.exit_code == code
    assert result.stderr.strip().splitlines()[-1] == error.format(**names)


def test_evaluate_keeps_what_only_training_knows(cli, tiny_config, tmp_path):
    """Re-evaluating a run rewrites metrics.json but keeps its training time and best epoch
    (cnnlab runs and the report read them)."""
    out = tmp_path / "out"
    assert cli("train", tiny_config, "--no-report", "--output-dir", out).exit_code == 0
    run = next((out / "tiny").iterdir())
    before = json.loads((run / "metrics.json").read_text())
    assert cli("evaluate", run).exit_code == 0
    after = json.loads((run / "metrics.json").read_text())
    for key in ("train_seconds", "best_epoch", "timings_seconds", "train_images", "precision"):
        assert after[key] == before[key], key
