"""Dataset sources and splits."""

from __future__ import annotations

import gzip
import struct
from pathlib import Path

import numpy as np
import pytest

from cnnlab.config import DataConfig
from cnnlab.data import adapt_images, load_dataset
from cnnlab.data.idx import read_idx
from cnnlab.data.pipeline import EVAL_BATCH, fit_pipelines, make_pipeline
from cnnlab.errors import DataError
from tests.conftest import requires_fashion


def write_idx(path, array: np.ndarray):
    header = struct.pack(">HBB", 0, 0x08, array.ndim) + struct.pack(f">{array.ndim}I", *array.shape)
    with gzip.open(path, "wb") as f:
        f.write(header + array.astype(np.uint8).tobytes())


def test_read_idx_round_trip(tmp_path):
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", images)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), images)


def test_read_idx_shares_one_read_only_array_until_the_file_changes(tmp_path):
    """Issue 25: `cnnlab train` read and unzipped Fashion-MNIST twice (training, then the
    report's pictures). A file read once is shared, read-only so no caller can change it
    for the others; a rewritten file is read again."""
    images = np.arange(2 * 3 * 4, dtype=np.uint8).reshape(2, 3, 4)
    write_idx(tmp_path / "x.gz", images)
    first = read_idx(tmp_path / "x.gz")
    assert read_idx(tmp_path / "x.gz") is first and not first.flags.writeable
    with pytest.raises(ValueError):
        first[0, 0, 0] = 1
    write_idx(tmp_path / "x.gz", images[:1] + 1)
    np.testing.assert_array_equal(read_idx(tmp_path / "x.gz"), images[:1] + 1)
    (tmp_path / "x.gz").write_bytes(b"damaged")
    with pytest.raises(DataError, match="cannot read"):
        read_idx(tmp_path / "x.gz")


def test_idx_from_explicit_path_with_seeded_split_and_limit(tmp_path):
    rng = np.random.default_rng(0)
    for name, n in (("train", 50), ("t10k", 20)):
        write_idx(tmp_path / f"{name}-images-idx3-ubyte.gz", rng.integers(0, 255, (n, 28, 28)))
        write_idx(tmp_path / f"{name}-labels-idx1-ubyte.gz", np.arange(n) % 10)
    cfg = DataConfig(source="mnist", path=str(tmp_path), validation_split=0.2, limit=40)
    a, b = load_dataset(cfg, seed=3), load_dataset(cfg, seed=3)
    assert a.x_train.shape == (32, 28, 28, 1) and a.x_val.shape == (8, 28, 28, 1)
    assert a.x_test.shape == (20, 28, 28, 1) and a.x_train.dtype == np.uint8
    np.testing.assert_array_equal(a.y_val, b.y_val)  # seeded
    assert a.class_names == [str(d) for d in range(10)]


def test_explicit_path_without_files_is_an_error(tmp_path):
    with pytest.raises(DataError, match="does not hold the fashion-mnist IDX files"):
        load_dataset(DataConfig(path=str(tmp_path)), seed=0)


def test_missing_dataset_lists_where_it_looked(tmp_path, monkeypatch):
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.setenv("CNNLAB_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("CNNLAB_OFFLINE", "1")
    if Path("/usr/share/datasets/mnist").exists():
        pytest.skip("MNIST is installed system-wide, so it cannot be missing")
    with pytest.raises(DataError) as info:
        load_dataset(DataConfig(source="mnist"), seed=0)
    message = str(info.value)
    assert str(tmp_path / "data") in message and "/usr/share/datasets/mnist" in message


def test_npz_source_and_errors(tmp_path, pattern_npz):
    data = load_dataset(DataConfig(source="npz", path=str(pattern_npz)), seed=0)
    assert data.num_classes == 3 and data.input_shape == (28, 28, 1)
    np.savez(tmp_path / "bad.npz", x_train=np.zeros((2, 4, 4)))
    with pytest.raises(DataError, match="lacks y_train, x_test, y_test"):
        load_dataset(DataConfig(source="npz", path=str(tmp_path / "bad.npz")), seed=0)


def test_directory_source(tmp_path):
    from PIL import Image

    for c, colour in (("cat", 30), ("dog", 220)):
        (tmp_path / c).mkdir()
        for i in range(10):
            Image.new("RGB", (40 + i, 30), (colour, colour, colour)).save(tmp_path / c / f"{i}.png")
    cfg = DataConfig(source="directory", path=str(tmp_path), image_size=(16, 16), validation_split=0.25)
    data = load_dataset(cfg, seed=0)
    assert data.class_names == ["cat", "dog"]
    assert data.x_train.shape[1:] == (16, 16, 3)
    assert len(data.x_test) == 4  # 20 % of each class held out
    assert len(data.x_train) + len(data.x_val) == 16


def test_adapt_images_channels_and_size():
    x = np.full((2, 28, 28, 1), 100, np.uint8)
    out = adapt_images(x, (32, 32), "rgb")
    assert out.shape == (2, 32, 32, 3) and out.dtype == np.uint8 and (out == 100).all()


def test_pipeline_keeps_uint8_and_batches():
    x = np.arange(10 * 4 * 4, dtype=np.uint8).reshape(10, 4, 4, 1)
    y = np.arange(10)
    batches = list(make_pipeline(x, y, 4, shuffle=True, seed=0))
    assert [len(b[1]) for b in batches] == [4, 4, 2]
    assert batches[0][0].dtype.name == "uint8"
    assert sorted(np.concatenate([b[1].numpy() for b in batches])) == list(range(10))


@requires_fashion
def test_fit_batches_train_at_the_recipes_size_and_validate_in_large_batches():
    """Training batches are the config's (the recipe); validation only runs forward, so it
    takes large batches: fewer steps, the same numbers."""
    x = np.arange(1000 * 4, dtype=np.uint8).reshape(1000, 2, 2, 1)
    y = np.arange(1000) % 10
    train, val = fit_pipelines(x[:700], y[:700], x[700:], y[700:], 32, seed=0)
    assert [len(b[1]) for b in train][:2] == [32, 32] and sum(len(b[1]) for b in train) == 700
    assert [len(b[1]) for b in val] == [EVAL_BATCH, 300 - EVAL_BATCH]
    assert np.array_equal(np.concatenate([b[1] for b in val]), y[700:])  # in order, all of them
    # tf.data's autotuner off: its per-iterator thread stalled about half the epochs by 2-6 s
    assert train.options().autotune.enabled is False and val.options().autotune.enabled is False
    _, none = fit_pipelines(x, y, x[:0], y[:0], 512, seed=0)
    assert none is None
    _, val = fit_pipelines(x[:500], y[:500], x[500:], y[500:], 512, seed=0)  # never smaller than training's
    assert [len(b[1]) for b in val] == [500]


def test_real_fashion_mnist_split():
    data = load_dataset(DataConfig(), seed=42)
    assert (len(data.x_train), len(data.x_val), len(data.x_test)) == (48000, 12000, 10000)
    assert data.class_names[0] == "T-shirt/top" and data.class_names[9] == "Ankle boot"
    assert data.x_train.dtype == np.uint8 and data.x_train.shape[1:] == (28, 28, 1)


# ---------------------------------------------------------------- photos (predict / visualize --image)


def test_fit_stretch_pad_crop_keep_or_squash_the_aspect(tmp_path):
    """A 20x40 photo with a white square in the middle, fitted to 28x28: stretch squashes the
    square to 28 tall by 14 wide; pad keeps it square; crop keeps the middle 20x20 (all white)."""
    from PIL import Image

    from cnnlab.data.photos import read_photo

    pixels = np.zeros((20, 40), np.uint8)
    pixels[:, 10:30] = 255
    Image.fromarray(pixels).save(tmp_path / "wide.png")

    def white_box(fit):
        out = read_photo(tmp_path / "wide.png", 28, 28, 1, fit=fit, invert="no").pixels[..., 0]
        assert out.shape == (28, 28)
        rows, cols = np.nonzero(out > 127)
        return rows.max() - rows.min() + 1, cols.max() - cols.min() + 1

    assert white_box("stretch") == (28, 14)
    height, width = white_box("pad")
    assert height == width and 12 <= height <= 16
    assert white_box("crop") == (28, 28)


def test_background_polarity_is_checked_against_the_training_images(tmp_path):
    from PIL import Image

    from cnnlab.data.photos import background, read_photo

    dark_item_on_white = np.full((28, 28), 255, np.uint8)
    dark_item_on_white[6:22, 8:20] = 40
    Image.fromarray(dark_item_on_white).save(tmp_path / "shirt.png")
    fashion_like = 0.0  # Fashion-MNIST's border pixels are black
    assert background(dark_item_on_white[..., None]) == 255
    auto = read_photo(tmp_path / "shirt.png", 28, 28, 1, invert="auto", reference=fashion_like)
    assert auto.inverted and auto.pixels[0, 0, 0] == 0 and auto.pixels[10, 10, 0] == 215
    assert auto.note == ("shirt.png: its background is light (border mean 255) but the training images' is "
                         "dark (0): inverted it (--invert no keeps it)")  # fmt: skip
    kept = read_photo(tmp_path / "shirt.png", 28, 28, 1, invert="no", reference=fashion_like)
    assert not kept.inverted and kept.note.endswith(": predictions may be wrong; --invert auto inverts it")
    same = read_photo(tmp_path / "shirt.png", 28, 28, 1, invert="auto", reference=250.0)
    assert not same.inverted and same.note == ""
    assert read_photo(tmp_path / "shirt.png", 28, 28, 1, invert="yes").inverted
