"""The practitioner workflow: lr-find, tune, --tta, cnnlab data (issue 16).

Real Keras on tiny real data: Fashion-MNIST subsets and the pattern npz of conftest."""

from __future__ import annotations

import json
import signal

import numpy as np
import pytest
import yaml
from PIL import Image

from tests.conftest import CONFIGS, TINY_LAYERS, requires_fashion, write_config

# The conftest stack with 10 outputs, for Fashion-MNIST.
FASHION_LAYERS = TINY_LAYERS[:-1] + [{"type": "Dense", "units": 10, "activation": "softmax"}]


def fashion_config(path, **sections):
    data = {"source": "fashion_mnist", "limit": 400, "validation_split": 0.2, "batch_size": 32}
    return write_config(path, data={**data, **sections.pop("data", {})}, model={"layers": FASHION_LAYERS}, **sections)


@pytest.mark.parametrize("command", ["lr-find", "tune", "data"])
def test_help(cli, command):
    result = cli(command, "--help")
    assert result.exit_code == 0 and f"Usage: cli {command}" in result.output


@pytest.mark.parametrize("command", ["evaluate", "predict"])
def test_tta_option_in_help(cli, command):
    assert "--tta N" in cli(command, "--help").output


# ---------------------------------------------------------------- lr-find


@pytest.mark.slow
@requires_fashion
def test_range_test_suggests_a_rate_inside_the_sweep_and_restores_the_weights(tmp_path):
    from cnnlab.config import load_config
    from cnnlab.data import load_dataset
    from cnnlab.data.pipeline import make_pipeline
    from cnnlab.model import build_model
    from cnnlab.train.compile import compile_model
    from cnnlab.train.lr_find import range_test

    cfg = load_config(fashion_config(tmp_path / "f.yaml"))
    data = load_dataset(cfg.data, cfg.seed)
    model = build_model(cfg, data.input_shape, data.num_classes)
    compile_model(model, cfg, 60)
    initial = [w.copy() for w in model.get_weights()]
    batches = make_pipeline(data.x_train, data.y_train, 32, shuffle=True, seed=0).repeat()
    result = range_test(model, batches, steps=60, min_lr=1e-6, max_lr=10.0)
    assert 1e-6 <= result.suggestion <= result.learning_rates[-1] <= 10.0
    assert result.method in ("valley", "minimum / 10")
    assert result.suggestion <= result.minimum / 10
    # the rate grew exponentially: equal ratios between steps
    ratios = np.diff(np.log(result.learning_rates))
    assert np.allclose(ratios, ratios[0])
    # Adam at high rates wrecks the CNN: the loss ends well above its minimum
    assert result.smoothed[-1] > 1.3 * min(result.smoothed)
    for before, after in zip(initial, model.get_weights()):
        np.testing.assert_array_equal(before, after)


@pytest.mark.slow
@requires_fashion
def test_lr_find_command_writes_a_plot_and_prints_the_set_line(cli, tmp_path):
    config = fashion_config(tmp_path / "f.yaml")
    result = cli("lr-find", config, "--steps", "60", "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    last = result.stdout.strip().splitlines()[-1]
    assert last.startswith("suggested (valley): --set train.optimizer.learning_rate=") or last.startswith(
        "suggested (minimum / 10): --set train.optimizer.learning_rate="
    )
    assert "both are heuristics" in result.stdout
    rate = float(last.rpartition("=")[2])
    table = np.genfromtxt(tmp_path / "out" / "tiny" / "lr-find.csv", delimiter=",", names=True)
    assert table["learning_rate"].min() <= rate <= table["learning_rate"].max()
    with Image.open(tmp_path / "out" / "tiny" / "lr-find.png") as img:
        img.load()
        assert img.size[0] > 300 and img.size[1] > 200
    sweep = json.loads(cli("lr-find", config, "--steps", "60", "--output-dir", tmp_path / "out", "--json").stdout)
    assert sweep["suggestion"] == pytest.approx(rate, rel=0.01) and sweep["method"] in ("valley", "minimum / 10")
    assert sweep["suggestion"] < sweep["minimum"] and 0 < len(sweep["learning_rates"]) == len(sweep["losses"]) <= 60


def test_suggestion_stays_below_a_minimum_at_the_end_of_a_steep_fall():
    """The 100-step Fashion-MNIST sweep of issue 24: the loss falls faster and faster right
    up to its minimum, so a one-sided slope made the minimum itself "the steepest descent"
    (3.76e-02; training there stayed at chance)."""
    from cnnlab.train.lr_find import RangeTest, suggest

    lrs = list(np.logspace(-7, -1, 80))
    x = np.linspace(0, 1, 80)
    smooth = list(2.3 - 1.0 * np.clip((x - 0.5) / 0.5, 0, 1) ** 3)  # flat, then an accelerating fall to the end
    result = RangeTest(learning_rates=lrs, losses=smooth, smoothed=smooth)
    suggest(result)
    assert result.minimum == lrs[-1]
    assert result.valley is not None and result.valley < result.minimum
    assert result.suggestion <= result.minimum / 10
    assert result.method in ("valley", "minimum / 10")


def test_suggestion_on_a_curve_without_descent_falls_back_to_the_minimum_tenth():
    from cnnlab.train.lr_find import RangeTest, suggest

    lrs = list(np.logspace(-7, 1, 40))
    smooth = [2.3] * 3 + [2.2] + [2.3 + 0.1 * i for i in range(36)]  # lowest at step 3: no descent to speak of
    result = RangeTest(learning_rates=lrs, losses=smooth, smoothed=smooth)
    suggest(result)
    assert result.valley is None and result.method == "minimum / 10"
    assert result.suggestion == pytest.approx(lrs[3] / 10)


@pytest.mark.slow
@requires_fashion
@pytest.mark.parametrize("steps", [50, 100, 200])
def test_training_at_the_suggested_rate_learns(tmp_path, steps):
    """The check DESIGN.md asks for: 2 epochs at the suggestion, on 1,600 training images,
    end well above chance (0.10) on the test images, for a short and a long sweep."""
    from cnnlab.config import load_config
    from cnnlab.runs import RunDir
    from cnnlab.train import train
    from cnnlab.train.lr_find import lr_find

    subset = ["data.limit=2000", "train.mixed_precision=false"]  # float32 on every CPU (auto: bfloat16 on AMX)
    result, _ = lr_find(load_config(CONFIGS / "fashion.yaml", subset), tmp_path, steps)
    assert result.suggestion <= result.minimum / 10
    quick = subset + ["train.epochs=2", "train.verbose=0", "train.tensorboard=false"]
    rate = f"train.optimizer.learning_rate={result.suggestion:.2e}"
    run = train(load_config(CONFIGS / "fashion.yaml", quick + [rate]), tmp_path)
    assert RunDir(run).read_metrics()["test_accuracy"] > 0.5, result


def test_lr_find_refuses_a_backwards_range(cli, tiny_config):
    result = cli("lr-find", tiny_config, "--min-lr", "1", "--max-lr", "0.1")
    assert result.exit_code == 2
    assert result.stderr.strip() == "Error: --min-lr 1 must be > 0 and below --max-lr 0.1; e.g. --min-lr 1e-7 --max-lr 10"


# ---------------------------------------------------------------- --tta


AUGMENT = {"rotation_range": 10, "width_shift_range": 0.1, "zoom_range": 0.1, "horizontal_flip": True}


@pytest.fixture(scope="module")
def tta_runs(tmp_path_factory):
    """(a tiny Fashion-MNIST run with augmentation, a pattern run without)."""
    if not __import__("tests.conftest", fromlist=["x"]).fashion_mnist_available():
        pytest.skip("Fashion-MNIST not installed")
    from cnnlab.config import load_config
    from cnnlab.train import train
    from tests.conftest import make_pattern_dataset

    tmp = tmp_path_factory.mktemp("tta")
    common = ["train.epochs=1", "train.verbose=0", "train.tensorboard=false"]
    augmented = train(load_config(fashion_config(tmp / "aug.yaml", augment=AUGMENT, name="aug"), common), tmp / "out")
    x, y = make_pattern_dataset(120, seed=3)
    np.savez(tmp / "p.npz", x_train=x, y_train=y, x_test=x[:30], y_test=y[:30])
    plain = train(load_config(write_config(tmp / "p.yaml", data={"path": str(tmp / "p.npz")}), common), tmp / "out")
    return augmented, plain


@pytest.mark.slow
def test_tta_averages_augmented_copies(tta_runs):
    from cnnlab.inspect.evaluate import predict_probabilities
    from cnnlab.runs import load_run
    from cnnlab.inspect.tta import tta_probabilities

    loaded = load_run(str(tta_runs[0]))
    from cnnlab.inspect.evaluate import run_test_data

    images = run_test_data(loaded)[0][:64]
    plain = predict_probabilities(loaded.model, images)
    one = tta_probabilities(loaded.model, images, 1)
    four = tta_probabilities(loaded.model, images, 4)
    assert four.shape == plain.shape and np.allclose(four.sum(axis=1), 1.0)
    assert not np.allclose(one, plain, atol=1e-4)  # the copies really are augmented
    # averaging over copies moves the prediction less from the plain one than a single copy does
    assert np.abs(four - plain).mean() < np.abs(one - plain).mean()


@pytest.mark.slow
def test_evaluate_with_tta_reports_both_accuracies(cli, tta_runs):
    run = tta_runs[0]
    result = cli("evaluate", run, "--tta", "3")
    assert result.exit_code == 0, result.output
    saved = json.loads((run / "tta.json").read_text())
    metrics = json.loads((run / "metrics.json").read_text())
    assert saved["accuracy"] == metrics["test_accuracy"] and saved["copies"] == 3
    assert (f"test accuracy {saved['tta_accuracy']:.4f} with TTA over 3 augmented copies "
            f"(without: {saved['accuracy']:.4f})") in result.stdout  # fmt: skip


@pytest.mark.slow
def test_predict_with_tta(cli, tta_runs, tmp_path):
    Image.fromarray(np.full((40, 30), 200, np.uint8)).save(tmp_path / "x.png")
    result = cli("predict", tta_runs[0], tmp_path / "x.png", "--tta", "2", "--top", "2")
    assert result.exit_code == 0, result.output
    line = result.stdout.strip()
    probs = [float(part.rsplit(" ", 1)[1]) for part in line.split(": ", 1)[1].split(", ")]
    assert len(probs) == 2 and probs[0] >= probs[1]


@pytest.mark.slow
def test_tta_needs_an_augmentation_block(cli, tta_runs):
    result = cli("evaluate", tta_runs[1], "--tta", "2")
    assert result.exit_code == 1
    assert result.stderr.strip() == (
        "Error: model 'tiny' has no augmentation block, so there is nothing to vary at test time; "
        "--tta needs a run trained with an augment: section (e.g. configs/fashion-aug.yaml)"
    )


@pytest.mark.slow
def test_tta_views_are_measured_for_a_model_trained_on_shifts_and_mirrors(cli, tta_runs):
    """The evaluation after training adds the accuracy of averaging each test image's
    prediction over the views it trained on (airbench's TTA), beside the plain one. AUGMENT
    shifts left-right only (fill 'nearest') and flips: 6 views, none up or down."""
    from cnnlab.inspect.evaluate import predict_probabilities, run_test_data
    from cnnlab.runs import load_run

    run = tta_runs[0]
    saved = json.loads((run / "metrics.json").read_text())
    loaded = load_run(str(run))
    x_test, y_test = run_test_data(loaded)
    left = np.concatenate([x_test[:, :, 1:], x_test[:, :, -1:]], axis=2)  # the last column repeated
    right = np.concatenate([x_test[:, :, :1], x_test[:, :, :-1]], axis=2)
    views = [v for image in (x_test, left, right) for v in (image, image[:, :, ::-1])]
    probs = [predict_probabilities(loaded.model, np.ascontiguousarray(v)) for v in views]
    assert not np.allclose(probs[0], probs[1], atol=1e-3)  # the mirror really is another input
    expected = (sum(probs).argmax(1) == y_test).mean()
    assert saved["test_accuracy_tta"] == pytest.approx(expected, abs=1e-5)
    assert saved["tta_views"] == ["as is", "mirrored", "left 1 px", "left 1 px, mirrored", "right 1 px",
                                  "right 1 px, mirrored"]  # fmt: skip
    assert saved["test_accuracy"] == pytest.approx((probs[0].argmax(1) == y_test).mean(), abs=1e-5)

    result = cli("evaluate", run)  # cnnlab evaluate measures it again and says it
    assert result.exit_code == 0, result.output
    assert (f"; {expected:.4f} with TTA (the mean over 6 views: the image, its 1-pixel shifts and the mirrors "
            "of these)") in result.stdout  # fmt: skip
    page = cli("report", run)
    assert page.exit_code == 0, page.output
    html = (run / "report.html").read_text()
    assert f"({expected:.4f} with TTA over 6 views)" in html and "test accuracy with TTA" in html


@pytest.mark.slow
def test_no_tta_views_for_a_model_that_never_saw_augmentation(tta_runs):
    saved = json.loads((tta_runs[1] / "metrics.json").read_text())
    assert "test_accuracy" in saved and "test_accuracy_tta" not in saved and "tta_views" not in saved


def test_views_move_one_pixel_fill_as_training_did_and_mirror():
    from cnnlab.inspect.tta_views import View, shown, tta_text

    images = np.arange(1, 2 * 3 * 4 * 2 + 1).reshape(2, 3, 4, 2)  # (N, H, W, C), no symmetry, no zeros
    assert np.array_equal(shown(images, View(mirror=True)), np.flip(images, axis=2))
    down = shown(images, View(down=1, fill_mode="constant", fill_value=7))
    assert np.array_equal(down[:, 1:], images[:, :-1]) and (down[:, 0] == 7).all()
    left = shown(images, View(right=-1, mirror=True, fill_mode="nearest"))
    assert np.array_equal(left, np.flip(np.concatenate([images[:, :, 1:], images[:, :, -1:]], axis=2), axis=2))
    wrap = shown(images, View(down=-1, fill_mode="wrap"))
    assert np.array_equal(wrap, np.roll(images, -1, axis=1))
    assert View(1, 0, True).name == "down 1 px, mirrored" and View().name == "as is"

    assert tta_text({"test_accuracy_tta": 0.94031, "tta_views": ["as is", "mirrored"]}) == (
        "; 0.9403 with TTA (the mean over 2 views: the image and its mirror)")
    assert tta_text({"flip_tta_accuracy": 0.9264}).startswith("; 0.9264 with TTA (the mean over 2 views")  # older runs
    views = {"tta_views": ["as is", "up 1 px"]}
    assert tta_text(views) == tta_text({**views, "test_accuracy_tta": float("nan")}) == tta_text(
        {**views, "test_accuracy_tta": True}) == tta_text({**views, "test_accuracy_tta": 10**400}) == tta_text(
        {"test_accuracy_tta": 0.9, "tta_views": "up"}) == ""  # fmt: skip


def test_the_views_are_those_the_augmentation_block_trained_on():
    from cnnlab.backend import keras
    from cnnlab.inspect.tta_views import flips_horizontally, trained_views
    from cnnlab.layers import RandomAffine

    k = keras()

    def model(*augmentations):
        inputs = k.Input((8, 8, 1))
        x = k.Sequential(list(augmentations), name="augmentation")(inputs) if augmentations else inputs
        return k.Model(inputs, k.layers.Dense(2)(k.layers.Flatten()(x)))

    assert flips_horizontally(model(k.layers.RandomFlip("horizontal")))
    assert flips_horizontally(model(k.layers.RandomRotation(0.1), k.layers.RandomFlip("horizontal_and_vertical")))
    assert not flips_horizontally(model(k.layers.RandomFlip("vertical")))
    assert not flips_horizontally(model(k.layers.RandomRotation(0.1)))
    assert not flips_horizontally(model())

    names = lambda m: [v.name for v in trained_views(m)]  # noqa: E731
    assert names(model(k.layers.RandomFlip("horizontal"))) == ["as is", "mirrored"]
    both = model(RandomAffine(width_shift_range=0.1, height_shift_range=2, fill_mode="constant", fill_value=0))
    assert names(both) == ["as is", "up 1 px", "down 1 px", "left 1 px", "right 1 px"]
    assert {(v.fill_mode, v.fill_value) for v in trained_views(both)} == {("constant", 0.0)}
    assert trained_views(model(RandomAffine(rotation_range=10))) == [] == trained_views(model())


# ---------------------------------------------------------------- cnnlab data


def make_folder(root):
    """class 'many': 12 RGB images 20x16; class 'few': 3 grayscale 28x28; one text file and
    one truncated PNG that the loader must skip."""
    rng = np.random.default_rng(0)
    (root / "many").mkdir(parents=True)
    (root / "few").mkdir()
    for i in range(12):
        Image.fromarray(rng.integers(0, 255, (16, 20, 3), dtype=np.uint8)).save(root / "many" / f"{i}.png")
    for i in range(3):
        Image.fromarray(rng.integers(0, 255, (28, 28), dtype=np.uint8)).save(root / "few" / f"{i}.png")
    (root / "few" / "notes.txt").write_text("not an image")
    good = (root / "few" / "0.png").read_bytes()
    (root / "many" / "broken.png").write_bytes(good[: len(good) // 2])


def test_data_report_on_an_imbalanced_folder(cli, tmp_path):
    make_folder(tmp_path / "imgs")
    config = write_config(tmp_path / "d.yaml", data={"source": "directory", "path": str(tmp_path / "imgs"),
                                                      "image_size": [28, 28], "color_mode": "grayscale",
                                                      "validation_split": 0.0},
                          train={"monitor": "loss"})  # fmt: skip
    result = cli("data", config, "--output-dir", tmp_path / "out", "--imbalance-ratio", "3")
    assert result.exit_code == 0, result.output
    report = json.loads((tmp_path / "out" / "tiny" / "data" / "report.json").read_text())
    # 20 % of each class (at least 1) is the test split
    assert report["class_names"] == ["few", "many"]
    assert report["counts"] == {"train": [2, 10], "validation": [0, 0], "test": [1, 2]}
    disk = report["on_disk"]
    assert disk["files"] == 17 and disk["formats"] == {"20x16 RGB": 12, "28x28 L": 3}
    assert disk["resized"] == 12 and disk["converted"] == 12
    assert disk["skipped"]["not an image"] == ["few/notes.txt"]
    assert [k for k in disk["skipped"] if k.startswith("unreadable")] and "many/broken.png" in str(disk["skipped"])
    assert "  skipped 1, not an image: few/notes.txt" in result.stdout
    assert result.stderr.strip().splitlines()[-1] == (
        "Warning: classes are imbalanced: 'many' has 10 training images, 'few' 2 (ratio 5.0 > 3); "
        "consider train.class_weight: balanced, or collect more of the rare classes"
    )
    with Image.open(tmp_path / "out" / "tiny" / "data" / "samples.png") as img:
        img.load()
    as_json = cli("data", config, "--output-dir", tmp_path / "out", "--json")
    assert as_json.exit_code == 0 and json.loads(as_json.stdout) == report


@requires_fashion
def test_data_report_on_fashion_mnist(cli, tmp_path):
    config = fashion_config(tmp_path / "f.yaml", data={"limit": 1000})
    result = cli("data", config, "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert "Warning" not in result.stderr  # Fashion-MNIST is balanced
    report = json.loads((tmp_path / "out" / "tiny" / "data" / "report.json").read_text())
    assert [sum(report["counts"][s]) for s in ("train", "validation", "test")] == [800, 200, 1000]
    assert report["on_disk"]["formats"] == {"28x28 L": 70000} and report["on_disk"]["resized"] == 0
    assert 60 < report["pixel_mean"][0] < 85 and 80 < report["pixel_std"][0] < 100  # Fashion: about 73 and 90


# ---------------------------------------------------------------- tune


def tune_config(tmp_path, npz, space=None, **tune):
    section = {"oracle": "random", "trials": 2, "objective": "val_accuracy",
               "space": space if space is not None else {"train.optimizer.learning_rate": {"log_uniform": [1e-3, 1e-2]},
                                                         "model.layers.0.filters": [2, 4]},
               **tune}  # fmt: skip
    return write_config(tmp_path / "t.yaml", data={"path": str(npz)}, train={"epochs": 1}, tune=section)


@pytest.mark.parametrize(
    "space, error",
    [
        ({}, "tune.space: is empty, so there is nothing to search; add at least one key, "
             "e.g. space: {train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}}"),
        ({"train.optimizer.learnig_rate": [0.1]}, "tune.space.train.optimizer.learnig_rate: train.optimizer.learnig_rate: "
         "unknown key (did you mean 'learning_rate'?); allowed keys here: name, learning_rate, momentum, weight_decay, "
         "schedule, warmup_epochs"),
        ({"train.epochs": {"normal": [1, 2]}}, "tune.space.train.epochs: unknown distribution 'normal' (did you mean 'uniform'?); use a list of "
         "choices [a, b, c], {uniform: [low, high]}, {log_uniform: [low, high]} or {int: [low, high]}"),
        ({"train.optimizer.learning_rate": {"log_uniform": [0, 0.1]}},
         "tune.space.train.optimizer.learning_rate: {log_uniform: [0, 0.1]} needs low > 0 (a log scale has no 0)"),
        ({"data.batch_size": {"int": [64, 16]}},
         "tune.space.data.batch_size: {int: [64, 16]} needs [low, high], two integers with low < high"),
        ({"train.optimizer.learning_rate": {"uniform": [0.1, 20]}},
         "tune.space.train.optimizer.learning_rate: train.optimizer.learning_rate: input should be less than or "
         "equal to 10, got 20.0"),
        ({"model.layers.0.type": ["Conv2D", "Conv2d"]},  # Keras's check, before any trial trains
         "tune.space.model.layers.0.type: model.layers[0].type: unknown layer 'Conv2d' (did you mean 'Conv2D'?); "
         "use a keras.layers class name such as Conv2D, MaxPooling2D, AveragePooling2D, MinPooling2D, "
         "GlobalAveragePooling2D, Flatten, Dense, Dropout (cnnlab layers lists every one)"),
    ],
)  # fmt: skip
def test_bad_search_space_is_one_error_line(cli, tmp_path, pattern_npz, space, error):
    config = tune_config(tmp_path, pattern_npz, space)
    result = cli("tune", config, "--output-dir", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.strip() == f"Error: {config}: {error}"
    assert not (tmp_path / "out").exists()


def test_tune_needs_a_tune_section(cli, tiny_config):
    result = cli("tune", tiny_config)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: {tiny_config}: tune: the config has no tune: section; add one with oracle, trials and space "
        "(e.g. space: {train.optimizer.learning_rate: {log_uniform: [1.0e-4, 1.0e-2]}})"
    )


def test_unknown_oracle(cli, tmp_path, pattern_npz):
    config = tune_config(tmp_path, pattern_npz, oracle="grid")
    result = cli("tune", config)
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        f"Error: {config}: tune.oracle: 'grid' is not allowed; choose one of: random, bayesian, hyperband"
    )


def runs_under(folder):
    return sorted(p for p in folder.iterdir() if (p / "config.yaml").is_file())


@pytest.mark.slow
def test_tune_runs_trials_as_normal_runs_and_writes_the_best_config(cli, tmp_path, pattern_npz):
    pytest.importorskip("keras_tuner")
    from cnnlab.config import load_config

    config = tune_config(tmp_path, pattern_npz)
    out = tmp_path / "out"
    result = cli("tune", config, "--output-dir", out)
    assert result.exit_code == 0, result.output
    trials = runs_under(out / "tiny")
    assert len(trials) == 2
    assert all(json.loads((r / "status.json").read_text())["state"] == "done" for r in trials)
    header, *rows = result.stdout.strip().splitlines()[:3]
    assert header.split() == ["rank", "trial", "train.optimizer.learning_rate", "model.layers.0.filters",
                              "val_accuracy", "run"]  # fmt: skip
    scores = [float(row.split()[4]) for row in rows]
    assert scores == sorted(scores, reverse=True)
    best_run = rows[0].split()[5]
    best = load_config(out / "tiny" / "tune" / "best.yaml")
    run_cfg = load_config(f"{best_run}/config.yaml")
    assert best == run_cfg  # random search keeps train.epochs: the best trial's config as it ran
    assert 1e-3 <= best.train.optimizer.learning_rate <= 1e-2 and best.model.layers[0]["filters"] in (2, 4)
    # rerunning a finished search trains nothing more and prints the same table
    again = cli("tune", config, "--output-dir", out)
    assert again.exit_code == 0 and len(runs_under(out / "tiny")) == 2
    assert again.stdout == result.stdout
    fresh = cli("tune", config, "--output-dir", tmp_path / "fresh", "--json")  # a search that trains: JSON alone on stdout
    assert fresh.exit_code == 0 and len(json.loads(fresh.stdout)["trials"]) == 2
    table = json.loads(cli("tune", config, "--output-dir", out, "--json").stdout)
    assert [t["run"] for t in table["trials"]] == [row.split()[5] for row in rows]
    assert [t["val_accuracy"] for t in table["trials"]] == pytest.approx(scores, abs=5e-5)


@pytest.mark.slow
def test_interrupted_search_continues_where_it_stopped(cli, tmp_path, pattern_npz):
    pytest.importorskip("keras_tuner")
    from cnnlab.train import signals
    from cnnlab.errors import TrainingInterrupted
    from cnnlab.train.tune import load_tune_config, tune

    config = tune_config(tmp_path, pattern_npz, trials=3)
    cfg, tune_cfg = load_tune_config(config)
    out = tmp_path / "out"

    def stop_in_trial_1(line):  # as if Ctrl-C arrived as trial 1 started
        if line.startswith("trial 1: ") and "val_accuracy" not in line:
            signals.request_stop(signal.SIGINT)

    try:
        with pytest.raises(TrainingInterrupted):
            tune(cfg, tune_cfg, out, say=stop_in_trial_1)
    finally:
        signals.request_stop(None)
    interrupted = runs_under(out / "tiny")
    assert len(interrupted) == 2
    assert json.loads((interrupted[1] / "status.json").read_text())["state"] == "interrupted"
    said = []
    result = tune(cfg, tune_cfg, out, say=said.append)
    assert said[0] == f"continuing the search in {out / 'tiny' / 'tune'}: 1 trial(s) done"
    assert said[1].startswith("trial 1: ") and said[1].endswith(f"(resuming {interrupted[1]})")
    assert len(runs_under(out / "tiny")) == 3  # trial 1 finished in its own run; trial 2 is new
    assert [r.status for r in result.records] == ["done"] * 3


@pytest.mark.slow
@pytest.mark.parametrize("oracle", ["bayesian", "hyperband"])
def test_other_oracles(cli, tmp_path, pattern_npz, oracle):
    pytest.importorskip("keras_tuner")
    config = tune_config(tmp_path, pattern_npz, oracle=oracle)
    result = cli("tune", config, "--set", "train.epochs=2", "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    assert len(runs_under(tmp_path / "out" / "tiny")) == 2
    assert (tmp_path / "out" / "tiny" / "tune" / "best.yaml").is_file()


# ---------------------------------------------------------------- train.class_weight


def test_balanced_class_weights_follow_the_inverse_frequency():
    from cnnlab.train.class_weights import class_weights

    y = np.array([0] * 80 + [1] * 20)
    assert class_weights("balanced", y, ["a", "b"]) == {0: 100 / (2 * 80), 1: 100 / (2 * 20)}
    assert class_weights("none", y, ["a", "b"]) is None
    assert class_weights({"b": 3.0}, y, ["a", "b"]) == {0: 1.0, 1: 3.0}


def test_class_weight_for_an_unknown_class_is_one_error():
    from cnnlab.train.class_weights import class_weights
    from cnnlab.errors import ConfigError

    with pytest.raises(ConfigError) as info:
        class_weights({"Shrit": 2.0}, np.array([0, 1]), ["T-shirt/top", "Shirt"])
    assert str(info.value) == (
        "train.class_weight: unknown class 'Shrit' (did you mean 'Shirt'?); the classes are: T-shirt/top, Shirt"
    )


# ---------------------------------------------------------------- base: inheritance


def test_base_chain_merges_mappings_and_replaces_lists(tmp_path):
    from cnnlab.config.inherit import resolve_bases

    (tmp_path / "sub").mkdir()
    (tmp_path / "root.yaml").write_text("name: root\ndata: {batch_size: 8, limit: 100}\ntrain: {metrics: [accuracy]}\n")
    (tmp_path / "sub" / "mid.yaml").write_text("base: ../root.yaml\ndata: {limit: 50}\ntrain: {epochs: 3}\n")
    (tmp_path / "leaf.yaml").write_text("base: sub/mid.yaml\nname: leaf\ntrain: {metrics: []}\n")
    assert resolve_bases(tmp_path / "leaf.yaml") == {
        "name": "leaf",
        "data": {"batch_size": 8, "limit": 50},
        "train": {"metrics": [], "epochs": 3},
    }


def test_base_cycle_and_missing_base_are_one_error(tmp_path, monkeypatch):
    from cnnlab.config.inherit import resolve_bases
    from cnnlab.errors import ConfigError

    monkeypatch.chdir(tmp_path)
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: c.yaml\n")
    (tmp_path / "c.yaml").write_text("base: a.yaml\n")
    with pytest.raises(ConfigError) as info:
        resolve_bases(tmp_path / "a.yaml")
    assert str(info.value) == "a.yaml: base: the chain of bases is a cycle (a.yaml -> b.yaml -> c.yaml -> a.yaml); remove one base: line"
    (tmp_path / "d.yaml").write_text("base: nowhere.yaml\n")
    with pytest.raises(ConfigError) as info:
        resolve_bases(tmp_path / "d.yaml")
    assert str(info.value) == (
        f"{tmp_path / 'd.yaml'}: base: 'nowhere.yaml' does not exist (looked for {tmp_path / 'nowhere.yaml'}); "
        "the path is relative to d.yaml's folder"
    )


def imbalanced_npz(path):
    """Fashion-MNIST T-shirt/top, Shirt, Pullover (easily confused), Shirt the minority:
    400 / 20 / 400 training images, 100 of each in the test split."""
    from cnnlab.data.idx import load_idx_source

    (x, y), (xt, yt), _ = load_idx_source("fashion_mnist", None)
    rng = np.random.default_rng(0)

    def pick(x, y, counts):
        idx = rng.permutation(np.concatenate([rng.choice(np.flatnonzero(y == c), n, replace=False)
                                              for c, n in counts.items()]))  # fmt: skip
        return x[idx], np.array([list(counts).index(c) for c in y[idx]])

    x_train, y_train = pick(x, y, {0: 400, 6: 20, 2: 400})
    x_test, y_test = pick(xt, yt, {0: 100, 6: 100, 2: 100})
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


@pytest.mark.slow
@requires_fashion
def test_balanced_class_weight_raises_minority_recall(cli, tmp_path):
    npz = imbalanced_npz(tmp_path / "imb.npz")
    config = write_config(tmp_path / "c.yaml", data={"path": str(npz), "validation_split": 0.0,
                                                      "class_names": ["T-shirt", "Shirt", "Pullover"]},
                          train={"epochs": 4, "monitor": "loss"})  # fmt: skip
    recall = {}
    for setting in ("none", "balanced"):
        out = tmp_path / setting
        result = cli("train", config, "--set", f"train.class_weight={setting}", "--no-report", "--output-dir", out)
        assert result.exit_code == 0, result.output
        run = next((out / "tiny").iterdir())
        recall[setting] = json.loads((run / "metrics.json").read_text())["per_class"]["Shirt"]["recall"]
        summary = (run / "summary.txt").read_text()
        assert summary.strip().splitlines()[-1] == (
            "class weights: none (every image counts the same)" if setting == "none"
            else "class weights (balanced): T-shirt 0.683, Shirt 13.7, Pullover 0.683"
        )  # fmt: skip
    assert recall["balanced"] > recall["none"] + 0.1, recall


def test_class_weight_unknown_class_name_via_cli(cli, tmp_path, pattern_npz):
    config = write_config(tmp_path / "c.yaml", data={"path": str(pattern_npz), "class_names": ["top", "bottom", "bar"]})
    result = cli("train", config, "--set", "train.class_weight={botom: 2}", "--output-dir", tmp_path / "out")
    assert result.exit_code == 2
    assert result.stderr.strip() == (
        "Error: train.class_weight: unknown class 'botom' (did you mean 'bottom'?); the classes are: top, bottom, bar"
    )
    assert not list((tmp_path / "out").rglob("config.yaml"))  # nothing half-written


def test_base_config_via_cli_saves_the_resolved_config(cli, tmp_path, pattern_npz):
    from cnnlab.config import load_config

    write_config(tmp_path / "root.yaml", data={"path": str(pattern_npz)})
    (tmp_path / "child.yaml").write_text("base: root.yaml\nname: child\ntrain: {epochs: 1}\n")
    result = cli("train", tmp_path / "child.yaml", "--no-report", "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    run = next((tmp_path / "out" / "child").iterdir())
    saved = yaml.safe_load((run / "config.yaml").read_text())
    assert "base" not in saved and saved["name"] == "child" and saved["train"]["epochs"] == 1
    assert saved["model"]["layers"] == TINY_LAYERS
    assert load_config(run / "config.yaml") == load_config(tmp_path / "child.yaml")


def test_base_errors_via_cli(cli, tmp_path):
    (tmp_path / "a.yaml").write_text("base: b.yaml\n")
    (tmp_path / "b.yaml").write_text("base: a.yaml\n")
    result = cli("summary", tmp_path / "a.yaml")
    assert result.exit_code == 2
    assert result.stderr.strip().startswith("Error: ") and "cycle" in result.stderr
    assert len(result.stderr.strip().splitlines()) == 1


def completions(*args):
    from click.shell_completion import ShellComplete

    from cnnlab.cli import cli as group

    *words, incomplete = args
    return [item.value for item in ShellComplete(group, {}, "cnnlab", "_CNNLAB_COMPLETE").get_completions(
        list(words), incomplete)]  # fmt: skip


def test_shell_completion_of_values(tmp_path, monkeypatch):
    assert completions("visualize", "--kind", "fe") == ["feature-maps"]
    assert completions("visualize", "--kind", "filters,st") == ["filters,stats", "filters,strip"]
    assert completions("finetune", "--backbone", "resnet5") == ["resnet50", "resnet50v2"]
    assert completions("export", "--format", "t") == ["tflite"]
    assert completions("export", "--format", "onnx,t") == ["onnx,tflite"]
    monkeypatch.chdir(tmp_path)
    for stamp in ("20260101-000000", "20260102-000000"):
        (tmp_path / "outputs" / "fashion" / stamp).mkdir(parents=True)
        (tmp_path / "outputs" / "fashion" / stamp / "model.keras").write_bytes(b"")
    assert completions("evaluate", "outputs/f") == ["outputs/fashion/20260101-000000", "outputs/fashion/20260102-000000"]
    assert completions("train", "--resume", "outputs/fashion/20260102") == ["outputs/fashion/20260102-000000"]
    assert completions("export", "outputs/fashion/20260101") == ["outputs/fashion/20260101-000000"]
    both = ["outputs/fashion/20260101-000000", "outputs/fashion/20260102-000000"]  # issue 24: these returned nothing
    assert completions("report", "outputs/f") == both
    assert completions("compare", "outputs/f") == both
    assert completions("compare", "outputs/fashion/20260101-000000", "outputs/fashion/20260102") == both[1:]
    assert completions("shift", "outputs/fashion/20260101-000000", "outputs/f") == both


def test_bash_completion_script(cli):
    from click.testing import CliRunner

    from cnnlab.cli import cli as group

    result = CliRunner(env={"_CNNLAB_COMPLETE": "bash_source"}).invoke(group, [], prog_name="cnnlab")
    assert "_cnnlab_completion" in result.output and "complete -o nosort -F _cnnlab_completion cnnlab" in result.output
