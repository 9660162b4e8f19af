"""The command line: help, version, training end to end, and one-line errors."""

from __future__ import annotations

import json
import subprocess
import sys

import numpy as np
import pytest
import yaml
from PIL import Image

from cnnlab.config import load_config
from tests.conftest import CONFIGS, write_config

COMMANDS = ["train", "evaluate", "predict", "summary", "layers"]


@pytest.mark.parametrize("command", COMMANDS)
def test_help_for_every_command(cli, command):
    result = cli(command, "--help")
    assert result.exit_code == 0 and "Usage: cli " + command in result.output


def test_help_and_version_do_not_import_tensorflow():
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom cnnlab.cli import cli\n"
        "for args in (['--help'], ['--version'], ['train', '--help']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_config_errors_and_shape_summaries_never_start_tensorflow(tmp_path):
    from tests.no_tensorflow import run_fresh

    bad_value = tmp_path / "bad.yaml"
    bad_value.write_text("name: bad\nmodel:\n  layers:\n    - {type: Conv2D, filters: -3, kernel_size: 3}\n")
    bad_key = tmp_path / "typo.yaml"
    bad_key.write_text("name: typo\ntrain: {epoch: 3}\nmodel: {layers: [{type: Flatten}]}\n")
    for command, code, line in [
        (("train", bad_value), 2, "invalid Conv2D arguments: filters must be a positive integer"),
        (("train", bad_key), 2, "train.epoch: unknown key"),
        (("train", CONFIGS / "fashion.yaml", "--set", "train.optimizer.name=adamm"), 2, "did you mean 'adam'"),
        (("summary", "--input", "1080x1920x3", CONFIGS / "fashion.yaml"), 0, "Total params: 829,"),
        (("summary", "--input", "28x28x1", CONFIGS / "fashion-best.yaml"), 0, "BatchNormalization"),
    ]:  # fmt: skip
        finished, imported = run_fresh(*command)
        assert finished.returncode == code and line in finished.stdout + finished.stderr, (command, finished.stderr)
        assert imported == [], command


def test_cli_start_imports_neither_numpy_nor_the_data_package():
    """--help answers at once: the photo options' choices are spelled in the CLI, and are
    the ones cnnlab.data.photos accepts."""
    code = ("import sys\nimport cnnlab.cli\n"
            "assert 'numpy' not in sys.modules and 'cnnlab.data' not in sys.modules, sorted(sys.modules)\n")  # fmt: skip
    subprocess.run([sys.executable, "-c", code], check=True)
    from cnnlab.cli import inspect as cli_inspect
    from cnnlab.data import photos

    assert (cli_inspect.FITS, cli_inspect.INVERTS) == (photos.FITS, photos.INVERTS)


def test_version(cli):
    assert cli("--version").output.startswith("cnnlab, version ")


def test_train_writes_a_complete_run(cli, tiny_config, tmp_path):
    result = cli("train", tiny_config, "--set", "train.epochs=3", "--no-report", "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "out" / "tiny").iterdir())
    assert f"run saved to {run}" in result.stdout
    for name in ("config.yaml", "model.keras", "history.csv", "metrics.json", "summary.txt", "classes.json",
                 "initial.weights.h5", "status.json", "plots/confusion_matrix.png", "plots/history.png",
                 "plots/misclassified.png"):  # fmt: skip
        assert (run / name).is_file(), name
    metrics = json.loads((run / "metrics.json").read_text())
    assert list(metrics)[:2] == ["test_loss", "test_accuracy"]
    assert metrics["test_accuracy"] > 0.6  # 3 easy classes: chance is 0.33
    assert np.array(metrics["confusion_matrix"]).sum() == metrics["test_images"] == 90
    assert len((run / "history.csv").read_text().splitlines()) == 1 + 3
    assert json.loads((run / "status.json").read_text())["state"] == "done"
    # the resolved config reproduces the run's settings exactly
    assert load_config(run / "config.yaml") == load_config(tiny_config, ["train.epochs=3"])
    assert not list(run.rglob(".*.tmp")) and not list(run.rglob(".model.*"))  # no temporary files left


def test_runs_are_never_overwritten(cli, tiny_config, tmp_path):
    for _ in range(2):
        assert cli("train", tiny_config, "--epochs", "1", "--no-report", "--output-dir", tmp_path).exit_code == 0
    assert len(list((tmp_path / "tiny").iterdir())) == 2


def test_output_layer_must_match_classes(cli, tmp_path, pattern_npz):
    layers = [{"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]
    config = write_config(tmp_path / "c.yaml", data={"path": str(pattern_npz)}, model={"layers": layers})
    result = cli("train", config, "--output-dir", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: model.layers[1]: outputs 10 values but the dataset has 3 classes; set its units to 3"
    )
    assert not (tmp_path / "out").exists()  # nothing half-written


def test_layer_that_cannot_take_its_input(cli, tmp_path, pattern_npz):
    layers = [{"type": "Flatten"}, {"type": "Conv2D", "filters": 2, "kernel_size": 3}]
    config = write_config(tmp_path / "c.yaml", data={"path": str(pattern_npz)}, model={"layers": layers})
    result = cli("train", config)
    assert result.exit_code == 2
    assert result.stderr.startswith("Error: model.layers[1] (Conv2D) cannot take input of shape (None, 784)")


@pytest.mark.parametrize(
    "args, expected",
    [
        (["train", "missing.yaml"], "Error: config file 'missing.yaml' does not exist; pass a YAML file such as configs/fashion.yaml"),
        (["train", "configs/fashion.yaml", "--set", "train.epoch=3"], "Error: --set train.epoch=3: train.epoch: unknown key (did you mean 'epochs'?)"),
        (["evaluate", "no/such/run"], "Error: run 'no/such/run' does not exist; pass a run directory (outputs/<name>/<stamp>) or a .keras file"),
        (["layers", "Quantum"], "Error: no layer type matches 'Quantum'; run cnnlab layers to list them all"),
    ],
)
def test_bad_input_gives_one_error_line(cli, args, expected):
    result = cli(*args)
    assert result.exit_code != 0
    assert result.stderr.splitlines()[0].startswith(expected)
    assert len(result.stderr.strip().splitlines()) == 1 and "Traceback" not in result.output


def test_no_runs_yet(cli, tmp_path):
    result = cli("evaluate", "--output-dir", tmp_path)
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: no runs under {tmp_path}/ yet; train one first: cnnlab train configs/fashion.yaml"


def test_malformed_yaml_via_cli(cli, tmp_path):
    bad = tmp_path / "bad.yaml"
    bad.write_text("model:\n  layers: [\n")
    result = cli("train", bad)
    assert result.exit_code == 2 and result.stderr.startswith(f"Error: {bad}: config: malformed YAML at line")


def test_debug_shows_the_traceback(tmp_path):
    from click.testing import CliRunner

    from cnnlab.cli import cli as group
    from cnnlab.errors import ConfigError

    with pytest.raises(ConfigError):
        CliRunner().invoke(group, ["--debug", "train", str(tmp_path / "nope.yaml")], obj={}, catch_exceptions=False)


def test_set_overrides_reach_the_run(cli, tiny_config, tmp_path):
    result = cli("train", tiny_config, "--set", "train.epochs=1", "--set", "data.batch_size=16", "--no-report",
                 "--output-dir", tmp_path)  # fmt: skip
    assert result.exit_code == 0, result.output
    saved = yaml.safe_load(next((tmp_path / "tiny").iterdir()).joinpath("config.yaml").read_text())
    assert saved["train"]["epochs"] == 1 and saved["data"]["batch_size"] == 16


# ---------------------------------------------------------------- on a real Fashion-MNIST run


def test_real_fashion_run_learns(fashion_run):
    metrics = json.loads((fashion_run / "metrics.json").read_text())
    assert metrics["test_accuracy"] > 0.6  # 1 epoch on 2,400 images; chance is 0.1
    assert json.loads((fashion_run / "classes.json").read_text())[9] == "Ankle boot"
    assert "Total params: 333,526" in (fashion_run / "summary.txt").read_text()


def test_evaluate_a_run_and_a_keras_file(cli, fashion_run):
    expected = json.loads((fashion_run / "metrics.json").read_text())["test_accuracy"]
    result = cli("evaluate", fashion_run)
    assert result.exit_code == 0, result.output
    assert f"test accuracy {expected:.4f}" in result.stdout and "Ankle boot" in result.stdout
    result = cli("evaluate", fashion_run / "model.keras")
    assert result.exit_code == 0 and "test accuracy" in result.stdout
    result = cli("evaluate", fashion_run, "--json")
    metrics = json.loads(result.stdout)
    assert metrics["test_accuracy"] == expected and metrics["per_class"]["Ankle boot"]["support"] > 0


def test_evaluate_defaults_to_newest_run(cli, fashion_run):
    result = cli("evaluate", "--output-dir", fashion_run.parent.parent)
    assert result.exit_code == 0 and f"written to {fashion_run}" in result.stdout
    steps = ["reading the test split ...", "predicting 3000 test images ...",
             "writing the metrics, the confusion matrix and the misclassified images ..."]  # a line per step
    assert result.stdout.splitlines()[:3] == steps
    import csv

    from cnnlab.inspect.evaluate import MISTAKES_FILE

    metrics = json.loads((fashion_run / "metrics.json").read_text())
    with open(fashion_run / MISTAKES_FILE, newline="") as f:
        wrong = list(csv.DictReader(f))  # every mistake, with its test index (issue 24)
    assert len(wrong) == metrics["test_images"] - round(metrics["test_accuracy"] * metrics["test_images"])
    assert all(0 <= int(m["index"]) < metrics["test_images"] and m["true"] != m["predicted"] for m in wrong)
    confidences = [float(m["confidence"]) for m in wrong]
    assert confidences == sorted(confidences, reverse=True)  # most confidently wrong first


def test_predict_any_size_and_colour(cli, fashion_run, tmp_path):
    from cnnlab.data import load_dataset
    from cnnlab.config import load_config as load

    data = load_dataset(load(fashion_run / "config.yaml").data, 42)
    trouser = int(np.flatnonzero(data.y_test == 1)[0])
    big = Image.fromarray(data.x_test[trouser, :, :, 0]).resize((90, 90)).convert("RGB")
    big.save(tmp_path / "trouser.jpg")
    result = cli("predict", fashion_run, tmp_path / "trouser.jpg")
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    assert line.startswith(f"{tmp_path / 'trouser.jpg'}: Trouser ")
    assert len(line.split(", ")) == 3  # top-3
    top = json.loads(cli("predict", fashion_run, tmp_path / "trouser.jpg", "--top", "2", "--json").stdout)
    assert top[0]["image"] == str(tmp_path / "trouser.jpg") and [t["class"] for t in top[0]["top"]][0] == "Trouser"
    assert len(top[0]["top"]) == 2 and 0 < top[0]["top"][0]["probability"] <= 1


def test_predict_bad_image(cli, fashion_run, tmp_path):
    (tmp_path / "notes.png").write_text("not a picture")
    result = cli("predict", fashion_run, tmp_path / "notes.png")
    assert result.exit_code == 1
    assert result.stderr.strip() == f"Error: cannot read image '{tmp_path / 'notes.png'}': not an image file; pass a PNG or JPEG file"


def test_a_path_that_is_not_a_run_or_an_image(cli, fashion_run, tmp_path):
    (tmp_path / "notes.txt").write_text("x")
    result = cli("evaluate", tmp_path / "notes.txt")
    assert result.exit_code == 1 and "is not a run directory or a .keras file" in result.stderr
    result = cli("predict", fashion_run, tmp_path)
    assert result.exit_code == 1 and result.stderr.strip() == f"Error: '{tmp_path}' is a folder, not an image; pass PNG or JPEG files"


def test_default_run_is_named(cli, fashion_run, tmp_path):
    from PIL import Image

    Image.new("L", (28, 28)).save(tmp_path / "black.png")
    result = cli("predict", tmp_path / "black.png", "--output-dir", fashion_run.parent.parent)
    assert result.exit_code == 0, result.output
    assert f"using the newest run with a model: {fashion_run}" in result.stderr



def test_predict_inverts_a_dark_item_on_white(cli, fashion_run, tmp_path):
    """Issue 24: a product photo (dark item on a white background, made from a Fashion-MNIST
    test item the run gets right) is inverted by --invert auto, with one line saying why,
    and predicted as its class; in a wide photo --fit crop finds the item at its own shape."""
    from cnnlab.config import load_config as load
    from cnnlab.data import load_dataset
    from cnnlab.inspect.evaluate import predict_probabilities
    from cnnlab.runs import load_run

    data = load_dataset(load(fashion_run / "config.yaml").data, 42)
    probs = predict_probabilities(load_run(str(fashion_run)).model, data.x_test[:200])
    right = np.flatnonzero((probs.argmax(1) == data.y_test[:200]) & (probs.max(1) > 0.8))
    index = int(right[0])
    name = load_run(str(fashion_run)).class_names[int(data.y_test[index])]
    photo = Image.fromarray(255 - data.x_test[index, :, :, 0]).resize((112, 112)).convert("RGB")
    photo.save(tmp_path / "photo.jpg")
    result = cli("predict", fashion_run, tmp_path / "photo.jpg", "--invert", "auto")
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith(f"{tmp_path / 'photo.jpg'}: {name} ")
    assert "photo.jpg: its background is light" in result.stderr and "inverted it (--invert no keeps it)" in result.stderr
    assert json.loads((fashion_run / "metrics.json").read_text())["test_background"] < 64  # recorded by training
    kept = cli("predict", fashion_run, tmp_path / "photo.jpg", "--invert", "no")
    assert "predictions may be wrong; --invert auto inverts it" in kept.stderr
    wide = Image.new("RGB", (224, 112), "white")
    wide.paste(photo, (56, 0))
    wide.save(tmp_path / "wide.jpg")
    cropped = cli("predict", fashion_run, tmp_path / "wide.jpg", "--fit", "crop")
    assert cropped.exit_code == 0 and cropped.stdout.startswith(f"{tmp_path / 'wide.jpg'}: {name} "), cropped.output
