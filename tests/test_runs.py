"""The runs stage on hand-written run folders (no training, so the fast loop covers it):
the layout owns every file name, one reader per file, one "started" and "newest" with
named filters, the resume command, writes that keep the umask and stay inside the run,
and the table and compare on hostile numbers and names."""

from __future__ import annotations

import json
import os
import re
import socket
from pathlib import Path

import pytest

from cnnlab import runs
from cnnlab.errors import RunError
from cnnlab.runs import RunDir
from tests.conftest import REPO
from tests.no_tensorflow import run_fresh

SUMMARY = """Model "fashion": input (None, 28, 28, 1) raw pixels 0..255
layer                  type                   output shape                  params  arithmetic
-----------------------------------------------------------------------------------------------
conv2d                 Conv2D                 (None, 28, 28, 8)                 80  params 3·3·1·8 + 8 = 80
flatten                Flatten                (None, 6272)                       0
dense                  Dense                  (None, 3)                     18,819  params 6272·3 + 3 = 18,819
-----------------------------------------------------------------------------------------------
Total params: 18,899 (trainable 18,899, non-trainable 0)
"""
HISTORY = "epoch,loss,accuracy,val_loss,val_accuracy,epoch_seconds,phase\n1,0.9,0.6,0.8,0.7,3.5,1\n2,0.5,0.8,0.6,0.75,2.5,1\n"


def make_run(path: Path, *, state: str | None = "done", metrics: dict | None = None, history: str | None = HISTORY,
             name: str = "fashion", model: bool = True, **status) -> Path:  # fmt: skip
    """A run folder as training leaves it, written by hand."""
    path.mkdir(parents=True)
    (path / RunDir.CONFIG).write_text(f"name: {name}\nseed: 1\nmodel:\n  layers:\n  - type: Flatten\n")
    if state is not None:
        (path / RunDir.STATUS).write_text(json.dumps({"state": state, "epoch": 2, **status}))
    if history is not None:
        (path / RunDir.HISTORY).write_text(history)
    if metrics is not None:
        (path / RunDir.METRICS).write_text(json.dumps(metrics))
    (path / RunDir.SUMMARY).write_text(SUMMARY)
    if model:
        (path / RunDir.MODEL).write_bytes(b"PK")  # the finders look, they never load
    return path


@pytest.fixture
def outputs(tmp_path) -> Path:
    out = tmp_path / "outputs"
    make_run(out / "fashion" / "20260101-120000", metrics={"test_accuracy": 0.9, "test_loss": 0.3, "best_epoch": 2})
    make_run(out / "fashion" / "20260102-120000", state="interrupted", model=True)
    make_run(out / "mlp" / "20260103-120000", state="failed", reason="diverged")
    make_run(out / "mlp" / "20260104-120000", state="running", model=False, history=None)
    (out / "mlp" / "not-a-run").mkdir()
    return out


# ---------------------------------------------------------------- layout: one owner of the names


def test_no_run_file_name_is_spelled_outside_the_layout():
    names = [getattr(RunDir, a) for a in dir(RunDir) if a.isupper() and isinstance(getattr(RunDir, a), str)]
    assert {"config.yaml", "model.keras", "history.csv", "metrics.json", "report.html", "verify.json"} <= set(names)
    pattern = re.compile("|".join(rf"""["'/]{re.escape(n)}["']""" for n in names if "." in n))
    offenders = []
    for path in (REPO / "cnnlab").rglob("*.py"):
        if path == REPO / "cnnlab" / "runs" / "layout.py":
            continue
        for number, line in enumerate(path.read_text().splitlines(), 1):
            code = line.split("#", 1)[0]
            if pattern.search(code) and not code.strip().startswith(('"""', "'")):
                offenders.append(f"{path.relative_to(REPO)}:{number}: {line.strip()}")
    assert offenders == [], "spell run file names through cnnlab.runs.RunDir:\n" + "\n".join(offenders)


def test_the_layout_check_catches_a_spelled_name(tmp_path):
    line = 'metrics = run / "metrics.json"'
    names = [RunDir.METRICS]
    pattern = re.compile("|".join(rf"""["'/]{re.escape(n)}["']""" for n in names))
    assert pattern.search(line)


# ---------------------------------------------------------------- finding: one "started", one "newest"


def test_find_runs_applies_named_filters_newest_first(outputs):
    stamps = lambda found: [p.name for p in found]  # noqa: E731
    assert stamps(runs.find_runs(outputs)) == ["20260104-120000", "20260103-120000", "20260102-120000", "20260101-120000"]
    assert stamps(runs.find_runs(outputs, "model")) == ["20260103-120000", "20260102-120000", "20260101-120000"]
    # running but its process is gone (kill -9) can be resumed; diverged cannot (it would repeat)
    (outputs / "mlp" / "20260104-120000" / RunDir.STATUS).write_text(
        json.dumps({"state": "running", "epoch": 1, "pid": 2**22 + 1, "host": socket.gethostname()}))
    assert stamps(runs.find_runs(outputs, "resumable")) == ["20260104-120000", "20260102-120000"]


def test_newest_says_which_filter_chose_it(outputs):
    path, line = runs.newest(outputs, "model")
    assert line == f"using the newest run with a model: {path}" and path.name == "20260103-120000"
    path, line = runs.newest(outputs, "any")
    assert line == f"using the newest run: {path}" and path.name == "20260104-120000"
    with pytest.raises(RunError, match="no interrupted run under .* to resume; pass its directory: cnnlab train --resume RUN"):
        runs.newest(outputs / "mlp" / "not-a-run", "resumable")


def test_started_is_the_stamp_and_beats_modification_times(outputs):
    old = outputs / "fashion" / "20260101-120000"
    os.utime(old / RunDir.CONFIG, (2e9, 2e9))  # touched later: still the oldest run
    assert runs.find_runs(outputs)[-1] == old
    assert runs.started(old) < runs.started(outputs / "fashion" / "20260102-120000")


def test_resume_command_is_quoted_and_names_the_workers(tmp_path):
    run = make_run(tmp_path / "my runs" / "$(touch x)", state="interrupted", workers=2)
    assert runs.resume_command(run) == f"cnnlab train --resume '{run}' --workers 2"
    assert runs.resume_command(run, 1) == f"cnnlab train --resume '{run}'"


# ---------------------------------------------------------------- reading: strict and tolerant


def test_history_strict_for_resume_tolerant_for_looking(tmp_path):
    run = make_run(tmp_path / "r", history=HISTORY + "3,0.4,0.8,1e400,0.7,2.0,1\n4,0.3,0.9,0.4,0.8,2")
    with pytest.raises(RunError, match=r"history.csv is damaged at line 4 .*too large"):
        RunDir(run).read_history_rows()
    files = runs.read_run(run)
    assert files.history["epoch"] == [1.0, 2.0]  # the overflowing and the cut-off rows are skipped
    assert "history.csv: 2 damaged rows skipped (cut off or not numbers)" in files.problems
    assert RunDir(make_run(tmp_path / "ok")).read_history_rows(1) == [
        {"epoch": 1, "loss": 0.9, "accuracy": 0.6, "val_loss": 0.8, "val_accuracy": 0.7, "epoch_seconds": 3.5, "phase": 1}]


def test_huge_and_nan_numbers_neither_crash_nor_leak_into_json(cli, tmp_path):
    out = tmp_path / "out"
    make_run(out / "a" / "20260101-120000", metrics={"test_accuracy": float("nan"), "train_seconds": 1e400})
    run = make_run(out / "b" / "20260102-120000", metrics={"test_accuracy": 0.5})
    (run / RunDir.METRICS).write_text('{"test_accuracy": 1' + "0" * 400 + ', "best_epoch": 1' + "0" * 400 + "}")
    result = cli("runs", "--output-dir", out, "--json")
    assert result.exit_code == 0, result.output
    assert "NaN" not in result.stdout and "Infinity" not in result.stdout
    rows = json.loads(result.stdout)
    assert [r["test_accuracy"] for r in rows] == [None, None] and rows[1]["train_seconds"] is None
    assert cli("runs", "--output-dir", out).exit_code == 0
    result = cli("compare", *sorted(out.glob("*/*")), "--output", tmp_path / "c.png")
    assert result.exit_code == 0, result.output


def test_compare_survives_names_that_look_like_tex_or_hold_newlines(cli, tmp_path):
    a = make_run(tmp_path / "$\\foo$" / "20260101-120000", metrics={"test_accuracy": 0.9})
    b = make_run(tmp_path / "two\nlines" / "20260102-120000", metrics={"test_accuracy": 0.8}, name="mlp")
    result = cli("compare", a, b, "--output", tmp_path / "c.png")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "c.png").stat().st_size > 0
    assert "\nlines" not in result.stdout and "two\\nlines" in result.stdout
    data = json.loads(cli("compare", a, b, "--json").stdout)
    assert [r["test_accuracy"] for r in data["runs"]] == [0.9, 0.8]
    assert {"key": "name", "values": ["fashion", "mlp"]} in data["config_diff"]
    (b / RunDir.CONFIG).write_text("name: mlp\nseed: 1\nmodel:\n  layers:\n  - type: Dense\n    units: 3\n")
    rows = json.loads(cli("compare", a, b, "--json").stdout)["config_diff"]
    assert {"key": "model.layers.0", "values": ["Flatten()", "Dense(units=3)"], "differs": True} in rows


# ---------------------------------------------------------------- writing: umask, symlinks


def test_written_files_keep_the_users_umask(tmp_path):
    old = os.umask(0o022)
    try:
        runs.write_text(tmp_path / "page.html", "x")
        runs.write_json(tmp_path / "a" / "b.json", {})
    finally:
        os.umask(old)
    assert (tmp_path / "page.html").stat().st_mode & 0o777 == 0o644
    assert (tmp_path / "a" / "b.json").stat().st_mode & 0o777 == 0o644


def test_a_symlink_cannot_lead_writes_out_of_the_run(tmp_path, cli):
    run = make_run(tmp_path / "out" / "fashion" / "20260101-120000", metrics={"test_accuracy": 0.9})
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    (run / RunDir.PLOTS).symlink_to(elsewhere)
    with pytest.raises(RunError, match="leads outside"):
        runs.write_text(RunDir(run).history_plot, "x")
    with pytest.raises(RunError, match="leads outside"):
        runs.write_text(RunDir(run).visualize_dir / "conv2d" / "filters.png", "x")
    result = cli("report", run, "--budget", "0")
    assert result.exit_code == 0 and RunDir(run).report.is_file()  # the page itself is the run's own
    assert list(elsewhere.rglob("*")) == []


# ---------------------------------------------------------------- no TensorFlow where none is needed


def test_listing_comparing_and_reporting_finished_runs_never_start_tensorflow(outputs, tmp_path):
    done = outputs / "fashion" / "20260101-120000"
    visualize = RunDir(done).visualize_dir
    for name in ("conv2d/filters.png", "conv2d/feature-maps.png", "conv2d/gradcam.png"):
        (visualize / name).parent.mkdir(parents=True, exist_ok=True)
        from PIL import Image

        Image.new("RGB", (8, 8)).save(visualize / name)
    commands = [("--help",), ("runs", "--output-dir", outputs), ("runs", "--output-dir", outputs, "--json"),
                ("compare", done, outputs / "fashion" / "20260102-120000", "--output", tmp_path / "c.png"),
                ("report", done)]  # fmt: skip
    for command in commands:
        finished, imported = run_fresh(*command)
        assert finished.returncode == 0, (command, finished.stderr[-600:])
        assert imported == [], command
    assert "GPUs not checked" in RunDir(done).report.read_text()


def test_a_project_folder_with_a_config_above_a_symlinked_outputs_is_not_taken_for_a_run(tmp_path):
    """Only a stamped run folder is a run to guard: a project folder holding its own
    config.yaml, whose outputs/ is a link to a data disk, must not refuse the run's files."""
    project, disk = tmp_path / "proj", tmp_path / "disk"
    project.mkdir()
    disk.mkdir()
    (project / "config.yaml").write_text("name: mine\n")
    (project / "outputs").symlink_to(disk)
    run = runs.create_run_dir(project / "outputs", "fashion")
    runs.write_text(RunDir(run).config, "name: fashion\n")  # the run's first file
    runs.write_json(RunDir(run).status, {"state": "running", "epoch": 0})
    assert (disk / "fashion" / run.name / RunDir.STATUS).is_file()


def test_resume_may_change_where_it_trains(tmp_path):
    from cnnlab.train.resume import plan_resume

    run = make_run(tmp_path / "out" / "fashion" / "20260101-120000", state="interrupted")
    plan = plan_resume(str(run), tmp_path / "out", None, ["train.distribute=mirrored", "train.devices=[CPU:0, CPU:1]"])
    assert plan.cfg.train.devices == ["CPU:0", "CPU:1"]
    with pytest.raises(Exception, match="differs at seed"):
        plan_resume(str(run), tmp_path / "out", None, ["seed=2"])


def test_compare_shows_tta_only_when_a_run_measured_it(cli, tmp_path):
    a = make_run(tmp_path / "a" / "20260101-120000", metrics={"test_accuracy": 0.9372, "test_accuracy_tta": 0.939,
                                                              "tta_views": ["as is", "mirrored"]})  # fmt: skip
    b = make_run(tmp_path / "b" / "20260102-120000", metrics={"test_accuracy": 0.917}, name="mlp")
    c = make_run(tmp_path / "c" / "20260103-120000", metrics={"test_accuracy": 0.91}, name="cnn")
    header, *rows = cli("compare", a, b, "--output", tmp_path / "ab.png").stdout.split("\n\n")[0].splitlines()
    assert "test accuracy  TTA accuracy" in header and "0.9372" in rows[0] and "0.9390" in rows[0]
    assert "TTA" not in cli("compare", b, c, "--output", tmp_path / "bc.png").stdout  # no run has it: no column
    data = json.loads(cli("compare", a, b, "--json").stdout)
    assert [r["test_accuracy_tta"] for r in data["runs"]] == [0.939, None]
