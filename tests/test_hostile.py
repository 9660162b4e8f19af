"""Issue 11: hostile and damaged inputs. Each class of problem gets a test: crafted
files must not escape the output folder, unbounded inputs must fail fast, wrong data
must give one Error line naming the file and the fix, never the crash fallback."""

from __future__ import annotations

import warnings

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
    x, y, classes = read_image_folder(tmp_path, (20, 30), "L")
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
