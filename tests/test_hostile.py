"""Issue 11: hostile and damaged inputs. Each class of problem gets a test: crafted
files must not escape the output folder, unbounded inputs must fail fast, wrong data
must give one Error line naming the file and the fix, never the crash fallback."""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pytest

from cnnlab.errors import DataError


# ---------------------------------------------------------------- images (item 5)
def _gradient(h=20, w=30):
    return (np.arange(h * w).reshape(h, w) * 255 // (h * w - 1)).astype(np.uint8)


def test_16_bit_png_reads_like_its_8_bit_twin(tmp_path):
    from PIL import Image

    from cnnlab.data.images import decode_image

    eight = _gradient()
    Image.fromarray(eight, mode="L").save(tmp_path / "8.png")
    Image.fromarray(eight.astype(np.uint16) * 257).save(tmp_path / "16.png")  # mode I;16
    assert Image.open(tmp_path / "16.png").mode.startswith("I")
    for mode in ("L", "RGB"):
        a = decode_image(tmp_path / "8.png", mode, None)
        b = decode_image(tmp_path / "16.png", mode, None)
        assert a.dtype == b.dtype == np.uint8 and a.shape == b.shape
        assert np.abs(a.astype(int) - b.astype(int)).max() <= 1


def test_exif_rotated_photo_reads_upright(tmp_path):
    from PIL import Image

    from cnnlab.data.images import decode_image, load_image

    upright = np.zeros((40, 20), np.uint8)
    upright[:10] = 255  # bright top band, 40 tall, 20 wide
    # a phone stores the pixels rotated and tags Orientation=6 ("rotate 90 CW to view")
    stored = Image.fromarray(upright).transpose(Image.Transpose.ROTATE_90)
    exif = Image.Exif()
    exif[0x0112] = 6
    stored.save(tmp_path / "phone.jpg", exif=exif, quality=95)
    array = decode_image(tmp_path / "phone.jpg", "L", None)
    assert array.shape == (40, 20, 1)
    assert array[:10].mean() > 200 and array[20:].mean() < 50
    assert load_image(tmp_path / "phone.jpg", 40, 20, 1)[:10].mean() > 200


def test_decompression_bomb_clear_message_no_warning(tmp_path):
    from PIL import Image

    from cnnlab.data.images import MAX_PIXELS, load_image

    side = int(MAX_PIXELS**0.5) + 10  # just over the limit; a 1-bit PNG of it is tiny
    Image.new("1", (side, side)).save(tmp_path / "bomb.png")
    assert (tmp_path / "bomb.png").stat().st_size < 200_000
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # any leaked DecompressionBombWarning fails the test
        with pytest.raises(DataError, match="decompression bomb") as info:
            load_image(tmp_path / "bomb.png", 28, 28, 1)
    assert "bomb.png" in str(info.value) and "\n" not in str(info.value)


def test_folder_training_reads_through_decode_image(tmp_path):
    from PIL import Image

    from cnnlab.data.directory import read_image_folder

    for name in ("a", "b"):
        (tmp_path / name).mkdir()
        Image.fromarray(_gradient().astype(np.uint16) * 257).save(tmp_path / name / "x16.png")
        Image.fromarray(_gradient()).save(tmp_path / name / "x8.png")
    (tmp_path / "a" / "junk.png").write_bytes(b"\x89PNG not really")
    x, _, classes = read_image_folder(tmp_path, (20, 30), "L")
    assert classes == ["a", "b"] and x.shape == (4, 20, 30, 1)
    assert np.abs(x[0].astype(int) - x[1].astype(int)).max() <= 1  # 16-bit == 8-bit twin


def test_random_bytes_and_truncated_image(tmp_path):
    from PIL import Image

    from cnnlab.data.images import load_image

    Image.fromarray(_gradient()).save(tmp_path / "ok.png")
    (tmp_path / "cut.png").write_bytes((tmp_path / "ok.png").read_bytes()[:60])
    (tmp_path / "rnd.png").write_bytes(np.random.default_rng(0).bytes(500))
    for name in ("cut.png", "rnd.png"):
        with pytest.raises(DataError, match=rf"cannot read image .*{name}.*pass a PNG or JPEG file"):
            load_image(tmp_path / name, 28, 28, 1)


# ---------------------------------------------------------------- path escape (item 1)
def _files(root):
    return {p for p in root.rglob("*") if p.is_file()}


def test_crafted_layer_names_never_escape_the_visualize_folder(tmp_path, cli):
    """A .keras file whose nested model and layers are named '..' (and worse): visualize
    --layer all writes every picture under <beside the model>/plots/visualize/."""
    from PIL import Image

    from cnnlab.backend import keras

    k = keras()
    inner_in = k.Input((8, 8, 1))
    inner = k.Model(inner_in, k.layers.Conv2D(2, 3, padding="same", name="..")(inner_in), name="..")
    inputs = k.Input((8, 8, 1))
    x = inner(inputs)
    x = k.layers.Conv2D(2, 3, padding="same", name="..%2F..")(x)
    x = k.layers.Conv2D(2, 3, padding="same", name=".")(x)
    x = k.layers.Flatten(name="...")(x)
    evil = tmp_path / "deep" / "er" / "evil"
    evil.mkdir(parents=True)
    k.Model(inputs, k.layers.Dense(3, activation="softmax")(x)).save(evil / "m.keras")
    Image.fromarray(_gradient(8, 8)).save(tmp_path / "img.png")
    before = _files(tmp_path)
    result = cli("visualize", evil / "m.keras", "--layer", "all", "--image", tmp_path / "img.png")
    assert result.exit_code == 0, result.output
    new = _files(tmp_path) - before
    allowed = (evil / "plots" / "visualize").resolve()
    assert len(new) >= 6, new  # 3 conv layers, several pictures each
    assert all(p.resolve().is_relative_to(allowed) for p in new), sorted(new)
    assert not any(part in ("..", ".") for p in new for part in p.relative_to(allowed).parts)


@pytest.mark.parametrize("name", ["..", ".", "../../etc", "a/../../b", "", "/abs", "..\\..", "x" * 400])
def test_inside_keeps_every_name_under_its_folder(tmp_path, name):
    from cnnlab.runs import inside

    path = inside(tmp_path / "out", name)
    assert path.resolve().is_relative_to((tmp_path / "out").resolve())
    assert all(len(part) <= 120 for part in path.relative_to(tmp_path / "out").parts)


def test_config_name_cannot_climb(tmp_path):
    from cnnlab.config import config_from_dict
    from cnnlab.errors import ConfigError

    for name in ("..", ".", "../x", "a/b", ".hidden"):
        with pytest.raises(ConfigError):
            config_from_dict({"name": name})


# ---------------------------------------------------------------- YAML alias bomb (item 2)
def _alias_bomb(levels=9, fan=9) -> str:
    lines = ["a0: &a0 [x, x, x, x, x, x, x, x, x]"]
    for i in range(1, levels):
        lines.append(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * fan) + "]")
    return "\n".join(lines) + f"\nname: *a{levels - 1}\n"


@pytest.mark.parametrize("where", ["top", "section"])
def test_yaml_alias_bomb_fails_fast_with_one_line(tmp_path, cli, where):
    import time
    import tracemalloc

    text = _alias_bomb()
    if where == "section":  # the bomb inside a known section: still refused before validation
        text = text.replace("name: *a8", "train: {epochs: *a8}")
    assert len(text) < 600  # 9**9 = 387 million values
    path = tmp_path / "bomb.yaml"
    path.write_text(text)
    from cnnlab.config import load_config
    from cnnlab.errors import ConfigError

    tracemalloc.start()
    start = time.perf_counter()
    with pytest.raises(ConfigError):
        load_config(path)
    elapsed = time.perf_counter() - start
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    result = cli("summary", path)
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: {path}: config: aliases at line 6 expand to over 100,000 values (an alias bomb?); "
        "write the values out without nested aliases"
    )  # line 6: the 6th anchor (9**6 values) is refused while composing, before any use
    assert elapsed < 1.0
    assert peak < 20_000_000  # bytes


def test_set_alias_bomb_and_big_values_are_shown_short(tmp_path, cli, tiny_config_fast):
    result = cli("summary", tiny_config_fast, "--set", "train.epochs=" + "[" * 3 + "1" + "]" * 3)
    assert result.exit_code == 2 and len(result.output) < 300
    big = "x" * 1_000_000
    result = cli("summary", tiny_config_fast, "--set", f"train.optimizer.name={big}")
    assert result.exit_code == 2 and result.output.startswith("Error: ") and len(result.output) < 400


def test_short_never_reprs_a_huge_value():
    from cnnlab.config.messages import _short

    shared = ["x"] * 10
    for _ in range(8):
        shared = [shared] * 10  # 10**9 leaves, as an alias bomb builds them: shared lists
    assert len(_short(shared)) <= 60
    assert len(_short("y" * 10**7)) <= 60


@pytest.fixture
def tiny_config_fast(tmp_path):
    """A config that summary can build without data (not trained: not slow)."""
    from tests.conftest import write_config

    return write_config(tmp_path / "c.yaml", data={"path": str(tmp_path / "none.npz")})


# ---------------------------------------------------------------- data.limit before resizing (item 3)
def _old_split(x_train, y_train, x_test, y_test, cfg, seed):
    """load_dataset before issue 11: adapt everything, then permute and limit."""
    from cnnlab.data import adapt_images

    x_train, x_test = (adapt_images(x, cfg.image_size, cfg.color_mode) for x in (x_train, x_test))
    rng = np.random.default_rng(seed)
    order = rng.permutation(len(x_train))
    if cfg.limit:
        order = order[: cfg.limit]
        test_order = rng.permutation(len(x_test))[: cfg.limit]
        x_test, y_test = x_test[test_order], y_test[test_order]
    n_val = round(len(order) * cfg.validation_split)
    t, v = order[n_val:], order[:n_val]
    return x_train[t], y_train[t], x_train[v], y_train[v], x_test, y_test


@pytest.mark.parametrize("limit", [None, 40])
def test_limit_selects_before_resizing_with_the_same_split(tmp_path, monkeypatch, limit):
    import cnnlab.data as data_pkg
    from cnnlab.config import config_from_dict
    from tests.conftest import make_pattern_dataset

    x, y = make_pattern_dataset(120, seed=3)
    xt, yt = make_pattern_dataset(60, seed=4)
    np.savez(tmp_path / "d.npz", x_train=x, y_train=y, x_test=xt, y_test=yt)
    cfg = config_from_dict({"data": {"source": "npz", "path": str(tmp_path / "d.npz"), "limit": limit,
                                     "image_size": [56, 56], "color_mode": "rgb"},
                           "model": {"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 3}]}})  # fmt: skip
    expected = _old_split(x, y.astype(np.int64), xt, yt.astype(np.int64), cfg.data, 7)
    resized = []
    real = data_pkg.adapt_images
    monkeypatch.setattr(data_pkg, "adapt_images", lambda a, *rest: resized.append(len(a)) or real(a, *rest))
    got = data_pkg.load_dataset(cfg.data, 7)
    for a, b in zip((got.x_train, got.y_train, got.x_val, got.y_val, got.x_test, got.y_test), expected):
        np.testing.assert_array_equal(a, b)
    assert got.x_train.shape[1:] == (56, 56, 3)
    assert sum(resized) == (2 * limit if limit else 180)  # only the images used are resized


def test_adapt_images_in_batches_matches_one_go(monkeypatch):
    import cnnlab.data as data_pkg

    x = np.random.default_rng(0).integers(0, 256, (23, 9, 7, 3), dtype=np.uint8)
    whole = data_pkg.adapt_images(x, (13, 5), "grayscale")
    monkeypatch.setattr(data_pkg, "RESIZE_BATCH", 4)
    np.testing.assert_array_equal(data_pkg.adapt_images(x, (13, 5), "grayscale"), whole)
    assert whole.shape == (23, 13, 5, 1) and whole.dtype == np.uint8


# ---------------------------------------------------------------- data wrong in ways users make (item 4)
def _npz(tmp_path, **changes):
    from tests.conftest import make_pattern_dataset

    x, y = make_pattern_dataset(30, seed=1)
    xt, yt = make_pattern_dataset(12, seed=2)
    arrays = {"x_train": x, "y_train": y, "x_test": xt, "y_test": yt, **changes}
    np.savez(tmp_path / "d.npz", **arrays)
    return tmp_path / "d.npz"


def _load(path, source="npz"):
    from cnnlab.config import config_from_dict
    from cnnlab.data import load_dataset

    cfg = config_from_dict({"data": {"source": source, "path": str(path)},
                            "model": {"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 3}]}})  # fmt: skip
    return load_dataset(cfg.data, 1)


NAN_IMAGES = np.full((30, 28, 28), 0.5, np.float32)
NAN_IMAGES[3, 4, 5] = np.nan


@pytest.mark.parametrize("changes, message", [
    ({"y_train": np.zeros(29, np.int64)}, "x_train has 30 images but y_train has 29 labels; save one label per image"),
    ({"y_test": -np.ones(12, np.int64)}, "y_test holds negative labels (smallest -1); labels are class numbers 0..K-1"),
    ({"x_train": np.zeros((0, 28, 28), np.uint8), "y_train": np.zeros(0, np.int64)},
     "x_train holds no images; save at least one train image with its label"),
    ({"x_train": NAN_IMAGES}, "x_train holds 1 NaN or infinite pixel values; replace them (e.g. numpy.nan_to_num) and save again"),
    ({"y_train": np.full(30, 1.5)}, "y_train holds float64 values that are not whole numbers; save class numbers 0..K-1 as integers"),
    ({"y_train": np.full((30, 3), 0.5)}, "y_train has shape (30, 3) but its rows are not one-hot; save class numbers 0..K-1 of shape (N,)"),
])  # fmt: skip
def test_npz_mistakes_name_file_array_and_fix(tmp_path, changes, message):
    path = _npz(tmp_path, **changes)
    with pytest.raises(DataError) as info:
        _load(path)
    assert str(info.value) == f"{path}: {message}"


def test_one_hot_labels_are_accepted(tmp_path):
    from tests.conftest import make_pattern_dataset

    _, y = make_pattern_dataset(30, seed=1)
    _, yt = make_pattern_dataset(12, seed=2)
    plain = _load(_npz(tmp_path))
    one_hot = _load(_npz(tmp_path, y_train=np.eye(3)[y].astype(np.float32), y_test=np.eye(3, dtype=np.uint8)[yt]))
    assert one_hot.class_names == plain.class_names == ["0", "1", "2"]
    for name in ("y_train", "y_val", "y_test"):
        np.testing.assert_array_equal(getattr(one_hot, name), getattr(plain, name))


def test_idx_label_count_mismatch_and_truncation(tmp_path):
    import gzip
    import struct

    def write(name, array):
        header = struct.pack(">HBB", 0, 8, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
        with gzip.open(tmp_path / name, "wb") as f:
            f.write(header + array.astype(np.uint8).tobytes())

    write("train-images-idx3-ubyte.gz", np.zeros((20, 28, 28)))
    write("train-labels-idx1-ubyte.gz", np.zeros(19))
    write("t10k-images-idx3-ubyte.gz", np.zeros((5, 28, 28)))
    write("t10k-labels-idx1-ubyte.gz", np.zeros(5))
    with pytest.raises(DataError) as info:
        _load(tmp_path, "fashion_mnist")
    assert str(info.value) == (f"{tmp_path}/train-labels-idx1-ubyte.gz has 19 labels but train-images-idx3-ubyte.gz "
                               "has 20 images; re-download or reinstall the dataset")  # fmt: skip
    write("train-labels-idx1-ubyte.gz", np.zeros(20))
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz") as f:
        raw = f.read()
    with gzip.open(tmp_path / "t10k-images-idx3-ubyte.gz", "wb") as f:
        f.write(raw[:-100])
    with pytest.raises(DataError, match=r"t10k-images-idx3-ubyte.gz: its header promises 5x28x28 bytes but it holds 3820 "
                                        r"\(truncated or damaged\); re-download"):  # fmt: skip
        _load(tmp_path, "fashion_mnist")


# ---------------------------------------------------------------- damaged or contested runs (item 6)
@pytest.fixture
def run_copy(fashion_run, tmp_path):
    """A private copy of the shared Fashion-MNIST run, free to damage."""
    import shutil

    return Path(shutil.copytree(fashion_run, tmp_path / "run", ignore=shutil.ignore_patterns("tensorboard", "backup")))


@pytest.fixture
def png28(tmp_path):
    from PIL import Image

    Image.fromarray(_gradient(28, 28)).save(tmp_path / "img.png")
    return tmp_path / "img.png"


def test_truncated_model_says_damaged(run_copy, cli, png28):
    model = run_copy / "model.keras"
    model.write_bytes(model.read_bytes()[: model.stat().st_size // 2])
    for command in (("predict", run_copy, png28), ("evaluate", run_copy), ("visualize", model, "--layer", "all")):
        result = cli(*command)
        assert result.exit_code == 1, result.output
        assert result.output.strip() == (
            f"Error: {model} is damaged (not a complete .keras archive: truncated or overwritten); "
            "train again, or resume the run if it was interrupted (cnnlab train --resume)"
        )


@pytest.mark.parametrize("text, problem", [
    ('["T-shirt", "Trou', "is damaged (Unterminated string"),
    ('["a", "b"]', "lists 2 classes but the model predicts 10"),
    ('{"a": 1}', "is not a list of class names"),
    ("", "is damaged (Expecting value"),
])  # fmt: skip
def test_damaged_classes_json_names_file_and_problem(run_copy, cli, png28, text, problem):
    (run_copy / "classes.json").write_text(text)
    for command in (("predict", run_copy, png28), ("evaluate", run_copy)):
        result = cli(*command)
        assert result.exit_code == 1, result.output
        line = result.output.strip()
        assert line.startswith(f"Error: {run_copy / 'classes.json'} {problem}"), line
        assert line.endswith("retrain, or write it as a JSON list of 10 class names") and "\n" not in line


HOLDER = """
import sys, time
from cnnlab.train.lock import run_lock
with run_lock(sys.argv[1]):
    print("held", flush=True)
    time.sleep(60)
"""


def _hold_lock_in_another_process(run):
    import subprocess
    import sys

    proc = subprocess.Popen([sys.executable, "-c", HOLDER, str(run)], stdout=subprocess.PIPE, text=True,
                            cwd=Path(__file__).resolve().parents[1])  # fmt: skip
    assert proc.stdout.readline().strip() == "held"
    return proc


def test_run_lock_refuses_a_second_trainer_and_frees_after_kill_9(tmp_path):
    from cnnlab.errors import RunError
    from cnnlab.train.lock import run_lock

    proc = _hold_lock_in_another_process(tmp_path)
    try:
        with pytest.raises(RunError) as info, run_lock(tmp_path):
            pass
        assert str(info.value) == (
            f"{tmp_path} is being trained by process {proc.pid} (it holds {tmp_path / 'train.lock'}); "
            f"wait for it to finish, or stop it (kill {proc.pid}) and resume again"
        )
    finally:
        proc.kill()  # SIGKILL: no cleanup runs in the holder; its lock file stays behind
        proc.wait()
    assert (tmp_path / "train.lock").read_text().strip() == str(proc.pid)  # stale file of a dead process
    with run_lock(tmp_path):
        assert (tmp_path / "train.lock").read_text().strip() == str(__import__("os").getpid())
    assert not (tmp_path / "train.lock").exists()


@pytest.mark.slow
def test_train_resume_refused_while_another_process_trains(tiny_config, tmp_path):
    from cnnlab.config import load_config
    from cnnlab.errors import RunError
    from cnnlab.train import train
    from cnnlab.train.lock import run_lock

    cfg = load_config(tiny_config, ["train.epochs=1"])
    run = train(cfg, tmp_path / "out")
    assert not (run / "train.lock").exists()  # released after training
    proc = _hold_lock_in_another_process(run)
    try:
        with pytest.raises(RunError, match=rf"is being trained by process {proc.pid} "):
            train(cfg, tmp_path / "out", resume_run=run)
    finally:
        proc.kill()
        proc.wait()
    (tmp_path / "patterns.npz").unlink()  # a resume that fails after taking the lock releases it
    with pytest.raises(DataError):
        train(cfg, tmp_path / "out", resume_run=run)
    assert not (run / "train.lock").exists()
    with run_lock(run):
        pass


# ---------------------------------------------------------------- smaller things (item 7)
@pytest.mark.parametrize("args, line", [
    (["train"], "Error: give CONFIG, or --resume [RUN] to continue an interrupted run; see 'cli train --help'"),
    (["train", "--nope"], "Error: No such option '--nope'; see 'cli train --help'"),
    (["nosuch"], "Error: No such command 'nosuch'; see 'cli --help'"),
    (["predict", "--max-maps"], "Error: No such option '--max-maps'; see 'cli predict --help'"),
])  # fmt: skip
def test_usage_errors_are_one_error_line(cli, args, line):
    result = cli(*args)
    assert result.exit_code == 2
    assert result.output.strip() == line
    assert "Usage:" not in result.output and "Try " not in result.output


def test_finetune_blames_the_flag_the_user_typed(cli, tmp_path):
    from tests.conftest import CONFIGS

    result = cli("finetune", "--backbone", "resnet5", CONFIGS / "finetune.yaml")
    assert result.exit_code == 2
    assert result.output.startswith("Error: --backbone resnet5: model.backbone.name: 'resnet5' is not allowed (did you mean 'resnet50'?)")
    result = cli("finetune", "--backbone", "resnet50", "--weights", tmp_path / "nope", CONFIGS / "finetune.yaml")
    assert result.output.startswith(f"Error: --weights {tmp_path / 'nope'}: model.backbone.weights:")


def test_finetune_lambda_refusal_does_not_suggest_a_missing_flag(tmp_path):
    from cnnlab.backend import keras
    from cnnlab.errors import ModelError
    from cnnlab.model.backbones import _load_run_model

    k = keras()
    inputs = k.Input((8, 8, 1))
    k.Model(inputs, k.layers.Lambda(lambda t: t * 2)(inputs)).save(tmp_path / "lam.keras")
    with pytest.raises(ModelError) as info:
        _load_run_model(str(tmp_path / "lam.keras"))
    assert "--unsafe" not in str(info.value)
    assert str(info.value).endswith("refused in safe mode; use a run or .keras file without Lambda layers as the base")


def test_missing_glyphs_do_not_warn(tmp_path):
    import matplotlib.pyplot as plt

    from cnnlab.runs import save_figure

    fig, ax = plt.subplots()
    ax.set_title("class \U0001f45f \u978b")  # a shoe emoji and a CJK character: not in DejaVu Sans
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        save_figure(fig, tmp_path / "g.png")
    assert (tmp_path / "g.png").stat().st_size > 0


# ---------------------------------------------------------------- the crash fallback is a bug report (item 7)
CRASH_TEXT = ("Error: unexpected", "Traceback", 'File "', "line ", "Exception")


def _assert_no_crash(result, what):
    out = result.output
    assert not any(text in out for text in CRASH_TEXT[:3]), f"{what}: {out[-800:]}"
    if result.exit_code != 0:
        assert out.strip().splitlines()[-1].startswith("Error: "), f"{what}: {out[-800:]}"
        assert result.exit_code in (1, 2), f"{what}: exit {result.exit_code}: {out[-400:]}"


def _damaged_bytes(valid: bytes) -> dict[str, bytes]:
    """The ways a file arrives damaged: empty, cut at several points, random, NULs, a bit flipped."""
    rng = np.random.default_rng(11)
    flipped = bytearray(valid)
    if flipped:
        flipped[len(flipped) // 3] ^= 0xFF
    out = {"empty": b"", "random": rng.bytes(700), "nuls": b"\0" * 300, "flipped": bytes(flipped),
           "latin1": "name: caf\xe9\n".encode("latin-1")}  # fmt: skip
    for fraction in (0.1, 0.5, 0.9):
        out[f"cut{fraction}"] = valid[: int(len(valid) * fraction)]
    return out


DAMAGED_CONFIG_TEXTS = {
    "list": "- a\n- b\n",
    "deep": "[" * 5000 + "]" * 5000,
    "deep_map": "a: " * 3000 + "1",
    "tab": "name:\tx\n\tseed: 1\n",
    "alias_bomb": _alias_bomb(),
    "huge_int": "seed: " + "9" * 5000 + "\n",
    "bad_types": "data: {limit: -1, image_size: [0, 0], batch_size: .inf}\n",
    "layers_junk": "model: {layers: [1, [2], {type: {x: 1}}, null]}\n",
}


def _config_inputs(tmp_path):
    from tests.conftest import CONFIGS

    valid = (CONFIGS / "fashion.yaml").read_bytes()
    files = {**_damaged_bytes(valid), **{k: v.encode() for k, v in DAMAGED_CONFIG_TEXTS.items()}}
    paths = []
    for name, data in files.items():
        path = tmp_path / f"cfg-{name}.yaml"
        path.write_bytes(data)
        paths.append(path)
    (tmp_path / "cfg-dir.yaml").mkdir()
    return paths + [tmp_path / "cfg-dir.yaml"]


def test_damaged_configs_never_reach_the_crash_fallback(tmp_path, cli):
    for path in _config_inputs(tmp_path):
        for command in (("summary", path), ("train", path, "--output-dir", tmp_path / "out"), ("augment", path),
                        ("finetune", "--backbone", "resnet50", path), ("summary", path, "--set", "seed=[")):  # fmt: skip
            result = cli(*command)
            assert result.exit_code != 0, f"{command}: {result.output[-300:]}"
            _assert_no_crash(result, command)


def _tiny_model(path):
    from cnnlab.backend import keras

    k = keras()
    inputs = k.Input((12, 12, 1))
    x = k.layers.Conv2D(2, 3, name="conv")(inputs)
    x = k.layers.Flatten()(x)
    k.Model(inputs, k.layers.Dense(3, activation="softmax")(x)).save(path)
    return path


def test_damaged_models_and_images_never_reach_the_crash_fallback(tmp_path, cli):
    import zipfile

    from PIL import Image

    good_model = _tiny_model(tmp_path / "good.keras")
    Image.fromarray(_gradient(12, 12)).save(tmp_path / "good.png")
    models = []
    for name, data in _damaged_bytes(good_model.read_bytes()).items():
        (tmp_path / f"m-{name}.keras").write_bytes(data)
        models.append(tmp_path / f"m-{name}.keras")
    with zipfile.ZipFile(tmp_path / "m-junkzip.keras", "w") as z:  # a zip, but not a Keras model
        z.writestr("config.json", "{not json")
        z.writestr("model.weights.h5", b"junk")
    with zipfile.ZipFile(tmp_path / "m-otherzip.keras", "w") as z:
        z.writestr("config.json", '{"class_name": "os.system", "config": {}}')
    (tmp_path / "m-dir.keras").mkdir()
    models += [tmp_path / "m-junkzip.keras", tmp_path / "m-otherzip.keras", tmp_path / "m-dir.keras"]
    images = []
    for name, data in _damaged_bytes((tmp_path / "good.png").read_bytes()).items():
        (tmp_path / f"i-{name}.png").write_bytes(data)
        images.append(tmp_path / f"i-{name}.png")
    for model in models:
        for command in (("predict", model, tmp_path / "good.png"), ("evaluate", model),
                        ("visualize", model, "--layer", "conv", "--kind", "filters")):  # fmt: skip
            result = cli(*command)
            assert result.exit_code != 0, f"{command}: {result.output[-300:]}"
            _assert_no_crash(result, command)
    for image in images:
        for command in (("predict", good_model, image), ("visualize", good_model, "--layer", "conv", "--image", image)):
            result = cli(*command)
            _assert_no_crash(result, command)


# damaged file -> (damages, commands that read it); resuming trains for real, so it is
# tried only with damage read before training starts (or, for history.csv, one epoch).
LOOKS = ("predict", "evaluate", "visualize")
RUN_FILES = {
    "config.yaml": (("empty", "random", "cut0.5", "flipped", "latin1"), (*LOOKS, "train")),
    "classes.json": (("empty", "random", "cut0.5", "flipped"), LOOKS),
    "model.keras": (("empty", "random", "cut0.5", "cut0.9", "flipped"), LOOKS),
    "status.json": (("random", "cut0.5"), ("train",)),
    "history.csv": (("random",), ("train",)),
}


@pytest.mark.parametrize("damaged", RUN_FILES)
def test_damaged_run_files_never_reach_the_crash_fallback(fashion_run, tmp_path, cli, damaged):
    import shutil

    from PIL import Image

    Image.fromarray(_gradient(28, 28)).save(tmp_path / "img.png")
    damages, readers = RUN_FILES[damaged]
    for name, data in _damaged_bytes((fashion_run / damaged).read_bytes()).items():
        if name not in damages:
            continue
        run = Path(shutil.copytree(fashion_run, tmp_path / name, ignore=shutil.ignore_patterns("tensorboard")))
        if damaged != "config.yaml":  # resume trains for real: a tenth of the run's images is plenty here
            config = (run / "config.yaml").read_text()
            assert "  limit: 3000\n" in config
            (run / "config.yaml").write_text(config.replace("  limit: 3000\n", "  limit: 300\n"))
        (run / damaged).write_bytes(data)
        if damaged != "status.json":
            (run / "status.json").write_text('{"state": "interrupted", "epoch": 0}')
        commands = {"predict": ("predict", run, tmp_path / "img.png"), "evaluate": ("evaluate", run),
                    "visualize": ("visualize", run, "--layer", "conv2d", "--kind", "filters,histogram"),
                    "train": ("train", "--resume", run, "--epochs", "1", "--no-report")}  # fmt: skip
        for reader in readers:
            result = cli(*commands[reader])
            _assert_no_crash(result, (damaged, name, reader))
            if result.exit_code and reader != "train":  # the Error line names the damaged file
                assert damaged in result.output.strip().splitlines()[-1], (damaged, name, reader, result.output)
            if damaged == "model.keras":
                assert "model.keras is damaged" in result.output, (name, result.output)


def test_error_after_ctrl_c_starts_on_its_own_line(monkeypatch):
    """Keras's progress bar leaves the cursor mid-line on a terminal: a newline comes first."""
    import os
    import sys

    from cnnlab.cli.app import _end_progress_line

    master, replica = os.openpty()
    with os.fdopen(replica, "w") as tty:
        monkeypatch.setattr(sys, "stdout", tty)
        _end_progress_line()
        assert os.read(master, 10) in (b"\n", b"\r\n")
    os.close(master)


# ================================================================ issue 23: round 3
def _png(path, h=28, w=28):
    from PIL import Image

    Image.fromarray(_gradient(h, w)).save(path)
    return path


def _hostile_savedmodel(path, marker):
    """A SavedModel shaped like cnnlab's (uint8 image -> probabilities) whose serving
    function also writes ``marker``: a SavedModel is a program."""
    from cnnlab.backend import tf

    tf_ = tf()

    class Planted(tf_.Module):
        @tf_.function(input_signature=[tf_.TensorSpec((None, 28, 28, 1), tf_.uint8, name="image")])
        def serve(self, image):
            tf_.io.write_file(str(marker), "pwned")
            return {"probabilities": tf_.ones((tf_.shape(image)[0], 3)) / 3}

    module = Planted()
    tf_.saved_model.save(module, str(path), signatures={"serving_default": module.serve})
    return path


def test_savedmodel_with_file_ops_is_refused_unless_unsafe(tmp_path, cli):
    model = _hostile_savedmodel(tmp_path / "planted", tmp_path / "MARKER")
    image = _png(tmp_path / "x.png")
    result = cli("predict", model, image)
    assert result.exit_code == 1 and not (tmp_path / "MARKER").exists()
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: SavedModel") and "WriteFile" in last and "--unsafe" in last
    result = cli("predict", model, image, "--unsafe")  # the user vouches for it: it runs
    assert result.exit_code == 0 and (tmp_path / "MARKER").exists()


def test_cnnlab_savedmodel_graph_is_inside_the_allow_list(tmp_path):
    from cnnlab.backend import keras
    from cnnlab.export.graph import Source
    from cnnlab.export.graph_ops import foreign_ops
    from cnnlab.export.to_savedmodel import save_inference_graph

    K = keras()
    model = K.Sequential([K.Input((28, 28, 1)), K.layers.Rescaling(1 / 255), K.layers.Conv2D(2, 3),
                          K.layers.BatchNormalization(), K.layers.MaxPooling2D(), K.layers.Flatten(),
                          K.layers.Dropout(0.1), K.layers.Dense(3, activation="softmax")])  # fmt: skip
    (tmp_path / "labels.txt").write_text("a\nb\nc\n")
    path = save_inference_graph(Source(model, ["a", "b", "c"], (28, 28, 1), "x"), tmp_path / "sm",
                                assets=[tmp_path / "labels.txt"])  # fmt: skip
    assert foreign_ops(path / "saved_model.pb") == []


def test_predict_run_loads_its_own_model_not_a_planted_savedmodel(tmp_path):
    from cnnlab.export.loaders import is_exported
    from cnnlab.runs import RunDir

    run = RunDir(tmp_path / "run")
    _hostile_savedmodel(run.path / "saved_model", tmp_path / "MARKER")
    assert is_exported(run.path)  # a bare folder holding a SavedModel is an export folder
    run.config.write_text("name: x\n")
    _tiny_model(run.model)
    assert not is_exported(run.path)  # a run folder means its own model
    assert not (tmp_path / "MARKER").exists()


def _onnx_with_input(path, dims):
    import onnx
    from onnx import TensorProto, helper

    image = helper.make_tensor_value_info("image", TensorProto.UINT8, ["N", *dims])
    out = helper.make_tensor_value_info("probabilities", TensorProto.FLOAT, ["N", dims[-1]])
    cast = helper.make_node("Cast", ["image"], ["f"], to=TensorProto.FLOAT)
    mean = helper.make_node("ReduceMean", ["f"], ["probabilities"], axes=[1, 2], keepdims=0)
    graph = helper.make_graph([cast, mean], "g", [image], [out])
    onnx.save(helper.make_model(graph, opset_imports=[helper.make_opsetid("", 13)]), str(path))
    return path


@pytest.mark.skipif(not __import__("importlib").util.find_spec("onnxruntime"), reason="export extra not installed")
def test_onnx_declaring_a_huge_input_is_refused_before_allocating(tmp_path, cli):
    import resource

    image = _png(tmp_path / "x.png")
    assert cli("predict", _onnx_with_input(tmp_path / "ok.onnx", (28, 28, 3)), image).exit_code == 0
    before = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    result = cli("predict", _onnx_with_input(tmp_path / "huge.onnx", (60000, 60000, 3)), image)
    assert result.exit_code == 1
    last = result.output.strip().splitlines()[-1]
    assert last.startswith("Error: ") and "60000x60000x3, too large (at most" in last
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - before < 500_000  # KiB: no 10 GB image


@pytest.mark.skipif(not __import__("importlib").util.find_spec("ai_edge_litert"), reason="export extra not installed")
def test_class_names_with_line_breaks_survive_tflite(tmp_path):
    from cnnlab.backend import keras
    from cnnlab.export import to_tflite
    from cnnlab.export.graph import Source, metadata, write_sidecars

    K = keras()
    model = K.Sequential([K.Input((12, 12, 1)), K.layers.Flatten(), K.layers.Dense(3, activation="softmax")])
    names = ["two\nlines", "para\u2028graph", "plain"]
    source = Source(model, names, (12, 12, 1), "x")
    write_sidecars(tmp_path, metadata(source, "tflite", "none"))
    artifact = to_tflite.write(source, tmp_path, "none")
    for stray in tmp_path.iterdir():  # the names must travel inside the file, not beside it
        if stray != artifact:
            stray.unlink() if stray.is_file() else None
    moved = tmp_path / "elsewhere"
    moved.mkdir()
    artifact.rename(moved / artifact.name)
    assert to_tflite.load(moved / artifact.name).class_names == names


def test_bash_completion_hands_run_names_over_as_quoted_words(tmp_path):
    """A real bash sources cnnlab's completion script, completes `cnnlab predict outputs/`
    and parses the candidate as the command line would: the name arrives as one
    argument, and the $(...) in it never runs."""
    import os
    import shutil
    import subprocess
    import sys

    from cnnlab.runs import RunDir
    from tests.conftest import REPO

    if not shutil.which("bash"):
        pytest.skip("no bash")
    hostile = "$(IFS=_;c=touch_PWNED;$c) it's\\"
    run = RunDir(tmp_path / "outputs" / hostile / "20260101-000000")
    run.path.mkdir(parents=True)
    run.model.write_bytes(b"")
    (tmp_path / "outputs" / "two\nlines" / "20260101-000000").mkdir(parents=True)
    (tmp_path / "outputs" / "two\nlines" / "20260101-000000" / RunDir.MODEL).write_bytes(b"")
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    entry = "from cnnlab.cli import cli; cli(prog_name='cnnlab', obj={})"  # what the installed script runs
    (bin_dir / "cnnlab").write_text(f'#!/bin/sh\nexec {sys.executable} -c "{entry}" "$@"\n')
    (bin_dir / "cnnlab").chmod(0o755)
    script = r"""
eval "$(_CNNLAB_COMPLETE=bash_source cnnlab)"
COMP_WORDS=(cnnlab predict outputs/); COMP_CWORD=2
_cnnlab_completion cnnlab
printf '%s\n' "${#COMPREPLY[@]}"
eval "set -- ${COMPREPLY[0]}"
printf '%s|%s\n' "$#" "$1"
"""
    env = {**os.environ, "PATH": f"{bin_dir}{os.pathsep}{os.environ['PATH']}", "PYTHONPATH": str(REPO)}
    out = subprocess.run(["bash", "--norc", "-c", script], cwd=tmp_path, env=env, capture_output=True, text=True,
                         timeout=120)  # fmt: skip
    assert not (tmp_path / "PWNED").exists(), out.stdout
    assert out.stdout.splitlines() == ["1", f"1|{run.path.relative_to(tmp_path)}"], (out.stdout, out.stderr[-500:])


# ---------------------------------------------------------------- the disk cache (items 8, 9)
def _cache_folder(tmp_path, per_class=6):
    from tests.test_stream import make_folder

    return make_folder(tmp_path / "imgs", per_class=per_class, classes=2)


def _cache_cfg(root, cache_dir, cache="disk"):
    from cnnlab.config.schema import DataConfig

    return DataConfig(source="directory", path=str(root), image_size=[20, 20], cache=cache, cache_dir=str(cache_dir),
                      validation_split=0.0)  # fmt: skip


def test_swapped_cache_file_is_decoded_again_with_one_warning(tmp_path, capsys):
    from cnnlab.data import load_dataset

    one, other = _cache_folder(tmp_path / "one"), _cache_folder(tmp_path / "two")
    for path in (other / "class0").iterdir():  # same sizes, other pixels
        from PIL import Image

        Image.new("RGB", (20, 20), (0, 0, 255)).save(path, format="PNG" if path.suffix == ".png" else "JPEG")
    cache = tmp_path / "cache"
    truth = np.asarray(load_dataset(_cache_cfg(one, cache, "memory"), 0).x_train)
    load_dataset(_cache_cfg(one, cache), 0)
    mine = sorted(cache.iterdir())
    load_dataset(_cache_cfg(other, tmp_path / "cache2"), 0)
    theirs = {f.stat().st_size: f for f in (tmp_path / "cache2").iterdir()}
    for mine_file in mine:  # each swapped for the other folder's cache of the same size (train, test)
        mine_file.write_bytes(theirs[mine_file.stat().st_size].read_bytes())
    capsys.readouterr()
    again = load_dataset(_cache_cfg(one, cache), 0)
    assert np.array_equal(np.asarray(again.x_train), truth)
    err = capsys.readouterr().err
    assert err.count("Warning: cache file") == 2 and "decoding the images again" in err  # train and test


def test_cache_pixels_flipped_inside_are_caught_by_the_checksum(tmp_path, capsys):
    from cnnlab.data import load_dataset

    root = _cache_folder(tmp_path)
    cache = tmp_path / "cache"
    truth = np.asarray(load_dataset(_cache_cfg(root, cache, "memory"), 0).x_train)
    data = load_dataset(_cache_cfg(root, cache), 0)
    path = Path(data.x_train.cache_file)
    raw = bytearray(path.read_bytes())
    raw[-5] ^= 0xFF  # one pixel of the last image, header untouched
    path.write_bytes(bytes(raw))
    capsys.readouterr()
    fresh = load_dataset(_cache_cfg(root, cache), 0)
    assert np.array_equal(np.asarray(fresh.x_train), truth)
    assert capsys.readouterr().err.count("does not match its checksums") == 1


@pytest.mark.parametrize("damage", ["truncated", "empty", "old npy"])
def test_damaged_cache_is_decoded_again(tmp_path, capsys, damage):
    from cnnlab.data import load_dataset

    root = _cache_folder(tmp_path)
    cache = tmp_path / "cache"
    truth = np.asarray(load_dataset(_cache_cfg(root, cache, "memory"), 0).x_train)
    path = Path(load_dataset(_cache_cfg(root, cache), 0).x_train.cache_file)
    raw = path.read_bytes()
    np.save(tmp_path / "x.npy", truth)  # what a cache file of the old format held
    path.write_bytes({"truncated": raw[: len(raw) - 100], "empty": b"",
                      "old npy": (tmp_path / "x.npy").read_bytes()[:len(raw)]}[damage])  # fmt: skip
    capsys.readouterr()
    fresh = load_dataset(_cache_cfg(root, cache), 0)
    assert np.array_equal(np.asarray(fresh.x_train), truth)
    assert "Warning: cache file" in capsys.readouterr().err


def test_cache_problems_are_one_error_line(tmp_path, cli):
    import os

    from tests.conftest import write_config

    root = _cache_folder(tmp_path)
    readonly = tmp_path / "ro"
    readonly.mkdir()
    readonly.chmod(0o555)
    cases = {
        "read-only": (readonly, "cannot write the image cache in data.cache_dir"),
        "inside": (root / "cache", "is inside data.path"),
    }
    if os.geteuid() == 0:  # root writes into a 0555 folder anyway; sysfs refuses even root
        cases["read-only"] = (Path("/sys/kernel"), cases["read-only"][1])
    for what, (cache_dir, text) in cases.items():
        cfg = write_config(tmp_path / f"{what}.yaml", data={"source": "directory", "path": str(root),
                           "image_size": [20, 20], "cache": "disk", "cache_dir": str(cache_dir)})  # fmt: skip
        result = cli("data", cfg, "--output-dir", tmp_path / "out")
        assert result.exit_code == 1, (what, result.output)
        assert result.output.strip().splitlines()[-1].startswith("Error: ") and text in result.output, result.output
    assert not (root / "cache").exists()


def test_data_report_on_a_disk_cache(tmp_path, cli):
    from tests.conftest import write_config

    root = _cache_folder(tmp_path)
    for cache in ("disk", "none"):
        cfg = write_config(tmp_path / f"{cache}.yaml", data={"source": "directory", "path": str(root),
                           "image_size": [20, 20], "cache": cache, "cache_dir": str(tmp_path / "c")})  # fmt: skip
        result = cli("data", cfg, "--output-dir", tmp_path / "out")
        assert result.exit_code == 0, result.output


# ---------------------------------------------------------------- names from disk (item 10)
def test_file_and_class_names_cannot_forge_output_or_crash_plots(tmp_path, cli):
    import os

    from tests.conftest import write_config

    root = _cache_folder(tmp_path)
    (root / "class0" / "x\nError: injected line.png").write_bytes(b"not an image")
    odd = os.fsencode(root) + b"/cl\xffass\xe2\x80\xa8$\\foo$"  # not UTF-8, U+2028, TeX
    os.rename(root / "class1", odd)
    cfg = write_config(tmp_path / "c.yaml", data={"source": "directory", "path": str(root), "image_size": [20, 20],
                                                  "cache": "memory"})  # fmt: skip
    result = cli("data", cfg, "--output-dir", tmp_path / "out")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert not [line for line in lines if line.startswith("Error: ")], result.output
    assert "x\\nError: injected line.png" in result.output
    assert any(line.startswith("cl\\xffass\\u2028$\\foo$") for line in lines), result.output


def test_printable_escapes_what_a_terminal_would_obey():
    from cnnlab.errors import plot_label, printable

    assert printable("a\nb\rc\x1b[2Jd\u2028e\u202ef") == "a\\nb\\rc\\x1b[2Jd\\u2028e\\u202ef"
    assert printable("été 猫 ok-name_1.png") == "été 猫 ok-name_1.png"
    assert plot_label("$\\alpha$") == "\\$\\alpha\\$"


# ---------------------------------------------------------------- large photos (item 12)
def test_large_photos_decode_reduced_and_only_absurd_sizes_are_bombs(tmp_path):
    import os
    import subprocess
    import sys

    from PIL import Image

    from cnnlab.data.images import MAX_PIXELS
    from tests.conftest import REPO

    scan = Image.new("L", (10000, 10000), 40)
    scan.paste(230, (0, 0, 5000, 10000))  # bright left half
    scan.save(tmp_path / "scan.png")
    phone = Image.new("RGB", (12000, 9000), (200, 30, 30))  # 108 megapixels
    phone.paste((30, 30, 200), (6000, 0, 12000, 9000))  # blue right half
    phone.save(tmp_path / "phone.jpg", quality=80)
    del scan, phone
    assert 12000 * 9000 < MAX_PIXELS and 10000 * 10000 < MAX_PIXELS
    # decoded in a fresh process, whose peak memory is the decoding's alone
    code = f"""
import time
import numpy as np
from cnnlab.data.images import load_image
start = time.monotonic()
gray = load_image({str(tmp_path / "scan.png")!r}, 28, 28, 1)
photo = load_image({str(tmp_path / "phone.jpg")!r}, 32, 32, 3)
hwm = [line.split()[1] for line in open("/proc/self/status") if line.startswith("VmHWM:")][0]
print(time.monotonic() - start, hwm)  # VmHWM: this process's peak (ru_maxrss keeps the forked parent's)
np.save({str(tmp_path / "gray.npy")!r}, gray)
np.save({str(tmp_path / "photo.npy")!r}, photo)
"""
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120,
                         env={**os.environ, "PYTHONPATH": str(REPO)})  # fmt: skip
    assert out.returncode == 0, out.stderr[-800:]
    seconds, peak_kib = (float(v) for v in out.stdout.split())
    gray, photo = np.load(tmp_path / "gray.npy"), np.load(tmp_path / "photo.npy")
    assert gray[:, :10].mean() > 200 and gray[:, -10:].mean() < 60
    assert photo[:, :10, 0].mean() > 150 and photo[:, -10:, 2].mean() > 150
    # a 108 MP RGB JPEG decoded whole is 324 MB; in DCT-scaled draft mode it is a few MB
    assert peak_kib < 300_000 and seconds < 20, (peak_kib, seconds)


# ---------------------------------------------------------------- bounds: tta, lr-find, tune (item 14)
def test_tta_is_bounded_before_anything_loads(cli, tmp_path):
    result = cli("predict", tmp_path / "no-run", _png(tmp_path / "x.png"), "--tta", "100000")
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: Invalid value for '--tta': 100000 is not in the range 1<=x<=64; "
                                     "see 'cli predict --help'")  # fmt: skip


@pytest.mark.parametrize("flag, value", [("--max-lr", "inf"), ("--min-lr", "nan"), ("--max-lr", "1e400")])
def test_lr_find_refuses_infinite_rates(cli, tmp_path, pattern_npz, flag, value):
    from tests.conftest import write_config

    cfg = write_config(tmp_path / "c.yaml", data={"path": str(pattern_npz)})
    result = cli("lr-find", cfg, flag, value)
    assert result.exit_code == 2
    assert result.output.strip().splitlines() == [
        f"Error: {flag} {float(value):g} is not a finite number; e.g. --min-lr 1e-7 --max-lr 10"]


def _tune_cfg(tmp_path, npz, space):
    from tests.conftest import write_config

    tune = {"oracle": "random", "trials": 2, "objective": "val_accuracy", "space": space}
    return write_config(tmp_path / "t.yaml", data={"path": str(npz)}, train={"epochs": 1}, tune=tune)


def test_tune_uniform_on_an_integer_key_is_one_error_line(cli, tmp_path, pattern_npz):
    config = _tune_cfg(tmp_path, pattern_npz, {"data.batch_size": {"uniform": [16, 64]}})
    result = cli("tune", config, "--output-dir", tmp_path / "out")
    assert result.exit_code == 2
    assert result.output.strip() == (
        f"Error: {config}: tune.space.data.batch_size: {{uniform: [16, 64]}} draws numbers like 33.8224, and "
        "data.batch_size takes whole numbers; use {int: [16, 64]} or a list of choices")


def test_tune_big_space_is_checked_in_a_spread_not_one_by_one(tmp_path, pattern_npz):
    import time

    from cnnlab.train.tune import load_tune_config

    config = _tune_cfg(tmp_path, pattern_npz, {"model.layers.0.filters": list(range(1, 20001))})
    start = time.monotonic()
    load_tune_config(config)
    assert time.monotonic() - start < 10


@pytest.mark.parametrize("text", ["{not json", "[1, 2]", ""])
def test_damaged_tune_files_name_the_file_and_fresh(cli, tmp_path, pattern_npz, text):
    from cnnlab.train.tune import SEARCH_FILE

    config = _tune_cfg(tmp_path, pattern_npz, {"model.layers.0.filters": [2, 4]})
    folder = tmp_path / "out" / "tiny" / "tune"
    folder.mkdir(parents=True)
    (folder / SEARCH_FILE).write_text(text)
    result = cli("tune", config, "--output-dir", tmp_path / "out")
    assert result.exit_code == 1
    line = result.output.strip()
    assert line.startswith(f"Error: {folder / SEARCH_FILE} is damaged (") and "\n" not in line
    assert line.endswith("; rerun with --fresh to start the search over (its runs stay)")


# ---------------------------------------------------------------- explain and summary bounds (items 16, 17)
@pytest.mark.parametrize("make, args, starts, has", [
    (lambda d: np.save(d / "big.npy", np.zeros((10000, 10000), np.float32)), ["relu", "--input", "big.npy"],
     "Error: --input big.npy is 10000x10000x1, too large for a lesson", "at most 100x100x16"),
    (None, ["conv", "--input", "1 2; 3 4", "--filter", "1", "--padding", "5000"],
     "Error: --padding 5000 makes the 2x2 input 10002x10002", "use --padding 49 or less here"),
    (None, ["conv", "--input", "7x7", "--padding", "20000"],
     "Error: --padding 20000 makes the 7x7 input 40007x40007: 1,600,560,049 pixels is more than this lesson counts",
     "use less padding"),
    (lambda d: np.save(d / "nan.npy", np.array([[1.0, np.nan], [np.inf, 4.0]])), ["relu", "--input", "nan.npy"],
     "Error: --input: nan.npy holds 2 NaN or infinite value(s) of 4", "replace them with numbers"),
    (None, ["relu", "--input", "; ".join(" ".join(str(i * 20 + j) for j in range(20)) for i in range(20))],
     None, None),  # a 20x20 matrix typed inline is a matrix, never a file name
    (None, ["relu", "--input", "; ".join(" ".join("1" for _ in range(150)) for _ in range(3))],
     "Error: --input is 3x150x1, too large for a lesson", "at most 100x100x16"),
    (None, ["conv", "--input", "1 2; 3 4", "--filter", "1", "--scale", "1" + "0" * 400 + "/1"],
     "Error: --scale: '1000000000000000000000000000000000000...' is too large for a number", "1/9"),
])  # fmt: skip
def test_explain_sizes_and_values_are_bounded(cli, tmp_path, monkeypatch, make, args, starts, has):
    import time

    monkeypatch.chdir(tmp_path)
    if make:
        make(tmp_path)
    start = time.monotonic()
    result = cli("explain", *args, "--output", tmp_path / "x.png")
    assert time.monotonic() - start < 15
    if starts is None:
        assert result.exit_code == 0, result.output
        return
    assert result.exit_code == 2, result.output
    (line,) = result.output.strip().splitlines()
    assert line.startswith(starts) and has in line, line


def test_summary_input_too_large_says_the_bound(cli):
    result = cli("summary", "--input", "100000x100000x3")
    assert result.exit_code == 2
    assert result.output.strip() == ("Error: --input '100000x100000x3': 30,000,000,000 values is too large (at most "
                                     "2,147,483,648, e.g. 16384x16384x8); give a smaller size")  # fmt: skip
