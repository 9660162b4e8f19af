"""Augmentation (issue 5): ImageDataGenerator's settings as in-model Keras layers,
MixUp/CutMix in the training pipeline, and the ``cnnlab augment`` preview."""

from __future__ import annotations

import math

import numpy as np
import pytest
import yaml
from tests.conftest import CONFIGS, write_config

from cnnlab.data.mixing import mix_batches
from cnnlab.model.augment import augmentation_block
from cnnlab.config import AugmentConfig, load_config

SIZE = 28
C = (SIZE - 1) / 2  # image centre, 13.5


def hand_pattern() -> np.ndarray:
    """A 'clock hand' from the centre to the right edge: asymmetric under every flip and
    rotation, so each transform is visible. (28, 28, 1) float32 in 0..255."""
    x = np.zeros((SIZE, SIZE, 1), np.float32)
    x[13:15, 14:26] = 255.0
    x[6:9, 4:7] = 120.0  # a dimmer blob in the top-left: breaks the remaining symmetry
    return x


def run_block(aug: AugmentConfig, x: np.ndarray, n: int, seed: int = 7, training: bool = True) -> np.ndarray:
    block = augmentation_block(aug, seed)
    out = block(np.repeat(x[None], n, axis=0), training=training)
    return np.asarray(out)


def centroid(img: np.ndarray) -> tuple[float, float]:
    """(row, column) centre of mass of a (H, W, 1) image."""
    w = img[..., 0].astype(np.float64)
    rows, cols = np.indices(w.shape)
    return float((rows * w).sum() / w.sum()), float((cols * w).sum() / w.sum())


OPTIONS = {
    "rotation_range": 30,
    "width_shift_range": 0.2,
    "height_shift_range": 0.2,
    "shear_range": 20,
    "zoom_range": 0.2,
    "channel_shift_range": 40,
    "horizontal_flip": True,
    "vertical_flip": True,
    "brightness_range": [0.5, 0.8],
    "contrast": 0.5,
    "random_erasing": 1.0,
}


@pytest.mark.parametrize("option", OPTIONS)
def test_each_option_changes_images_in_training_only(option):
    aug = AugmentConfig(**{option: OPTIONS[option]})
    x = hand_pattern()
    trained = run_block(aug, x, 8)
    assert trained.shape == (8, SIZE, SIZE, 1) and trained.dtype == np.float32
    assert not np.allclose(trained, x[None]), f"{option} did not change any image"
    inferred = run_block(aug, x, 8, training=False)
    assert inferred.dtype == np.float32
    np.testing.assert_array_equal(inferred, np.repeat(x[None], 8, axis=0))


def test_no_augmentation_adds_no_layer():
    assert augmentation_block(AugmentConfig()) is None


def test_rotation_range_is_degrees_and_never_beyond_it():
    """rotation_range 90: estimate each output's angle from the hand's centroid, then check
    that scipy.ndimage.rotate by that angle reproduces the output (so it is that rotation)."""
    from scipy import ndimage

    x = hand_pattern()
    x[6:9, 4:7] = 0  # keep only the hand, so its centroid gives the angle
    outs = run_block(AugmentConfig(rotation_range=90, fill_mode="constant"), x, 48)
    r0, c0 = centroid(x)
    base = math.atan2(-(r0 - C), c0 - C)
    angles = []
    for out in outs:
        r, c = centroid(out)
        angle = math.degrees(math.atan2(-(r - C), c - C) - base)  # counter-clockwise, image shown y-down
        angles.append(angle)
        expected = ndimage.rotate(x[..., 0], angle, reshape=False, order=1, mode="constant")
        assert np.abs(out[..., 0] - expected).mean() < 6.0, f"output is not a rotation by {angle:.1f}°"
    angles = np.abs(angles)
    assert angles.max() <= 90.0 + 2.0  # never beyond the range (2° for centroid error)
    assert angles.max() > 70.0  # degrees, not a fraction of them: 48 draws of U(-90, 90)


def test_width_shift_moves_content_at_most_a_quarter_width():
    x = np.zeros((SIZE, SIZE, 1), np.float32)
    x[4:24, 13:15] = 255.0  # a vertical bar through the centre
    outs = run_block(AugmentConfig(width_shift_range=0.25, fill_mode="constant"), x, 64)
    r0, c0 = centroid(x)
    shifts = []
    for out in outs:
        r, c = centroid(out)
        assert abs(r - r0) < 0.01  # horizontal only
        shifts.append(c - c0)
    shifts = np.abs(shifts)
    assert shifts.max() <= SIZE / 4 + 0.01
    assert shifts.max() > 0.8 * SIZE / 4  # a fraction of the width, not of a pixel


def legacy_generator(**kwargs):
    legacy = pytest.importorskip("keras.src.legacy.preprocessing.image")
    return legacy.ImageDataGenerator(**kwargs)


def test_zoom_above_one_zooms_out_as_in_image_data_generator():
    x = hand_pattern()
    out = run_block(AugmentConfig(zoom_range=[1.5, 1.5], fill_mode="constant"), x, 2)[0]
    assert (out > 128).sum() < (x > 128).sum()  # content got smaller
    reference = legacy_generator(fill_mode="constant").apply_transform(x, {"zx": 1.5, "zy": 1.5})
    assert np.abs(out - reference).mean() < 2.0


def test_shear_is_image_data_generator_shear_in_degrees():
    """Every sheared output equals ImageDataGenerator's shear at some angle within range."""
    x = hand_pattern()
    x[4:24, 13:15] = 200.0  # a vertical bar shows the shear angle
    idg = legacy_generator(fill_mode="constant")
    grid = np.arange(-20, 20.01, 0.25)
    references = np.stack([idg.apply_transform(x, {"shear": a}) for a in grid])
    best = []
    for out in run_block(AugmentConfig(shear_range=20, fill_mode="constant"), x, 12):
        errors = np.abs(references - out).mean(axis=(1, 2, 3))
        assert errors.min() < 1.5
        best.append(grid[errors.argmin()])
    assert np.abs(best).max() > 8  # spread over the range, not stuck near 0


def test_brightness_range_multiplies_like_image_data_generator():
    x = hand_pattern()
    out = run_block(AugmentConfig(brightness_range=[0.5, 0.5]), x, 2)[0]
    reference = legacy_generator().apply_transform(x, {"brightness": 0.5})
    assert np.abs(out - reference).max() <= 1.0  # PIL rounds to uint8


def test_geometry_is_one_resample_like_image_data_generator():
    """Rotation, shifts and zoom together blur no more than ImageDataGenerator's single
    resample (chaining one Keras layer per transform loses about a fifth of the edges)."""
    from tests.conftest import make_pattern_dataset

    x = make_pattern_dataset(256)[0].astype(np.float32)
    settings = dict(rotation_range=10, width_shift_range=0.1, height_shift_range=0.1, zoom_range=0.1,
                    fill_mode="constant")  # fmt: skip
    ours = np.asarray(augmentation_block(AugmentConfig(**settings), 0)(x, training=True))
    idg = legacy_generator(**settings)
    np.random.seed(0)
    reference = np.stack([idg.random_transform(image) for image in x])

    def edges(a):  # mean absolute difference of neighbouring pixels
        return np.abs(np.diff(a, axis=1)).mean() + np.abs(np.diff(a, axis=2)).mean()

    assert edges(ours) > 0.93 * edges(reference)


def test_random_erasing_is_a_probability():
    """0.5 erases about half the images (Keras's RandomErasing(factor=0.5) alone would draw
    the probability from U(0, 0.5), erasing about a quarter)."""
    x = np.full((SIZE, SIZE, 1), 100.0, np.float32)
    outs = run_block(AugmentConfig(random_erasing=0.5), x, 400)
    erased = (np.abs(outs - x[None]).max(axis=(1, 2, 3)) > 0).mean()
    assert 0.4 < erased < 0.6


def test_interpolation_order_zero_only_moves_pixels():
    x = hand_pattern()
    nearest = run_block(AugmentConfig(rotation_range=30, interpolation_order=0, fill_mode="constant"), x, 8)
    assert set(np.unique(nearest)) <= set(np.unique(x)) | {0.0}
    bilinear = run_block(AugmentConfig(rotation_range=30, fill_mode="constant"), x, 8)
    assert not set(np.unique(bilinear)) <= set(np.unique(x)) | {0.0}


def test_fill_mode_constant_uses_cval():
    x = np.full((SIZE, SIZE, 1), 200.0, np.float32)
    outs = run_block(AugmentConfig(rotation_range=45, fill_mode="constant", cval=77), x, 8)
    assert np.isclose(outs, 77.0, atol=1.0).any()
    outs = run_block(AugmentConfig(rotation_range=45, fill_mode="nearest"), x, 8)
    np.testing.assert_allclose(outs, 200.0, atol=1e-3)  # nearest never invents new values here


# ---------------------------------------------------------------- MixUp / CutMix


def pipeline(x, y, aug, classes=3):
    from cnnlab.data.pipeline import make_pipeline

    return mix_batches(make_pipeline(x, y, 16, shuffle=True, seed=1, one_hot=classes), aug, seed=1)


@pytest.mark.parametrize("option", ["mixup_alpha", "cutmix_alpha"])
def test_mixing_gives_soft_labels_that_sum_to_one(option):
    from tests.conftest import make_pattern_dataset

    x, y = make_pattern_dataset(64)
    images, labels = next(iter(pipeline(x, y, AugmentConfig(**{option: 1.0}))))
    labels = labels.numpy()
    assert images.shape == (16, SIZE, SIZE, 1) and labels.shape == (16, 3)
    np.testing.assert_allclose(labels.sum(axis=1), 1.0, atol=1e-5)
    assert ((labels > 0.01) & (labels < 0.99)).any(), "no label was mixed"
    assert not np.array_equal(images.numpy(), images.numpy().round()) or option == "cutmix_alpha"


@pytest.mark.parametrize("option", ["mixup_alpha", "cutmix_alpha"])
def test_preview_mixing_pairs_each_image_with_its_partner(option):
    """Black images mixed with white partners: the white share of the pixels must equal
    the partner's share of the label, image by image."""
    from cnnlab.inspect.preview import mix_preview

    black, white = np.zeros((6, SIZE, SIZE, 1), np.float32), np.full((6, SIZE, SIZE, 1), 200.0, np.float32)
    mixed, weights = mix_preview(black, white, AugmentConfig(**{option: 1.0}), seed=3)
    # Keras's CutMix weighs labels by the box's real-valued area but pastes whole pixels:
    # on 28x28 images the two differ by a few hundredths.
    tolerance = 1e-4 if option == "mixup_alpha" else 0.05
    np.testing.assert_allclose(mixed.mean(axis=(1, 2, 3)) / 200.0, 1.0 - weights, atol=tolerance)
    assert ((weights > 0.01) & (weights < 0.99)).any()


def test_mixing_repeats_with_the_same_seed():
    from tests.conftest import make_pattern_dataset

    x, y = make_pattern_dataset(256)  # 16 batches: parallel mapping would shuffle their random draws
    aug = AugmentConfig(mixup_alpha=0.4, cutmix_alpha=1.0)
    first, second = ([labels.numpy() for _, labels in pipeline(x, y, aug)] for _ in range(2))
    np.testing.assert_array_equal(np.concatenate(first), np.concatenate(second))


def test_preview_repeats_with_the_same_seed():
    from cnnlab.inspect.preview import augment_preview

    aug = AugmentConfig(rotation_range=30, horizontal_flip=True, random_erasing=0.5)
    x = hand_pattern()
    np.testing.assert_array_equal(augment_preview(x, aug, 4, seed=5), augment_preview(x, aug, 4, seed=5))
    assert not np.array_equal(augment_preview(x, aug, 4, seed=5), augment_preview(x, aug, 4, seed=6))


def test_mixing_is_off_by_default():
    from cnnlab.data.pipeline import make_pipeline

    ds = make_pipeline(np.zeros((4, 2, 2, 1), np.uint8), np.zeros(4, np.int64), 2, shuffle=False, seed=0)
    assert mix_batches(ds, AugmentConfig(), seed=0) is ds


def test_model_trains_on_mixup_labels(tmp_path, pattern_npz):
    from cnnlab.runs import RunDir
    from cnnlab.train import train

    config = write_config(
        tmp_path / "mix.yaml",
        data={"path": str(pattern_npz)},
        train={"epochs": 4, "verbose": 0, "tensorboard": False, "loss": "categorical_crossentropy",
               "early_stopping": {"enabled": False}},
        augment={"mixup_alpha": 0.4, "cutmix_alpha": 1.0, "horizontal_flip": True},
    )  # fmt: skip
    run = train(load_config(config), tmp_path / "out")
    loss = RunDir(run).read_history()["loss"]
    assert all(math.isfinite(v) for v in loss)
    assert loss[-1] < loss[0]


def test_mixing_needs_categorical_loss(cli, tiny_config):
    result = cli("augment", tiny_config, "--set", "augment.mixup_alpha=0.2")
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        "Error: --set augment.mixup_alpha=0.2: augment.mixup_alpha: mixes labels into soft labels, so it needs "
        "train.loss: categorical_crossentropy (the data keeps int labels; cnnlab one-hot encodes them)"
    ]


# ---------------------------------------------------------------- the saved model


def test_model_with_augmentation_saves_loads_and_predicts_the_same(tmp_path, pattern_npz):
    from tests.conftest import make_pattern_dataset

    from cnnlab.data.pipeline import make_pipeline
    from cnnlab.model import build_model
    from cnnlab.runs import load_model
    from cnnlab.train.compile import compile_model

    config = write_config(tmp_path / "aug.yaml", data={"path": str(pattern_npz)}, augment={**OPTIONS})
    cfg = load_config(config)
    model = build_model(cfg, (SIZE, SIZE, 1), 3)
    assert model.layers[1].name == "augmentation"  # right after the input, before rescaling
    assert model.layers[2].name == "rescaling"
    x, y = make_pattern_dataset(64)
    compile_model(model, cfg, steps_per_epoch=4)
    model.fit(make_pipeline(x, y, 16, shuffle=True, seed=0), epochs=1, verbose=0, shuffle=False)
    before = model.predict(x, verbose=0)
    np.testing.assert_array_equal(before, model.predict(x, verbose=0))  # inference is deterministic
    path = tmp_path / "model.keras"
    model.save(path)
    loaded = load_model(path)  # Keras safe mode: no Lambda layers inside
    np.testing.assert_allclose(loaded.predict(x, verbose=0), before, rtol=1e-6, atol=1e-6)
    kinds = {type(layer).__name__ for layer in loaded.get_layer("augmentation").layers}
    assert {"RandomAffine", "RandomBrightnessScale", "RandomFlip", "RandomErasing"} <= kinds


def test_augmented_model_trains_with_the_gpu_defaults_xla_and_mixed_precision(tmp_path, pattern_npz):
    """On a GPU, train.jit_compile and mixed_precision 'auto' mean on. XLA cannot compile
    the image transform, so Keras must fall back to no XLA rather than fail; augmentation
    stays float32 under mixed_float16."""
    from tests.conftest import make_pattern_dataset

    from cnnlab.backend import keras
    from cnnlab.data.pipeline import make_pipeline
    from cnnlab.model import build_model
    from cnnlab.train.compile import compile_model

    config = write_config(
        tmp_path / "gpu.yaml", data={"path": str(pattern_npz)},
        train={"jit_compile": True, "mixed_precision": True}, augment={"rotation_range": 10, "zoom_range": 0.1},
    )  # fmt: skip
    cfg = load_config(config)
    keras().mixed_precision.set_global_policy("mixed_float16")
    try:
        model = build_model(cfg, (SIZE, SIZE, 1), 3)
        assert model.get_layer("augmentation").layers[0].compute_dtype == "float32"
        with pytest.warns(UserWarning, match="jit_compile=False"):  # Keras's fallback, not a failure
            compile_model(model, cfg, steps_per_epoch=2)
        x, y = make_pattern_dataset(32)
        history = model.fit(make_pipeline(x, y, 16, shuffle=False, seed=0), epochs=1, verbose=0, shuffle=False)
    finally:
        keras().mixed_precision.set_global_policy("float32")
    assert math.isfinite(history.history["loss"][0])


# ---------------------------------------------------------------- config and CLI


def test_image_data_generator_keys_without_a_layer_say_why(cli, tiny_config):
    result = cli("augment", tiny_config, "--set", "augment.featurewise_center=true")
    assert result.exit_code == 2
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("Error: --set augment.featurewise_center=true: augment.featurewise_center: needs")
    assert "Normalization" in lines[0]
    result = cli("augment", tiny_config, "--set", "augment.zca_whitening=true")
    assert "augment.zca_whitening: needs a whitening matrix" in result.stderr


def test_unknown_augment_key_gets_a_suggestion(tmp_path, pattern_npz, cli):
    config = write_config(tmp_path / "typo.yaml", data={"path": str(pattern_npz)}, augment={"rotaton_range": 10})
    result = cli("augment", config)
    assert result.exit_code == 2
    assert result.stderr.strip().splitlines() == [
        f"Error: {config}: augment.rotaton_range: unknown key (did you mean 'rotation_range'?); allowed keys here: "
        + ", ".join(AugmentConfig.model_fields)
    ]


@pytest.mark.parametrize(
    "setting, message",
    [
        ("augment.width_shift_range=4", "augment.width_shift_range: is a fraction of the image size"),
        ("augment.zoom_range=[0.5,3]", "augment.zoom_range: must be a float z in [0, 1)"),
        ("augment.zoom_range=[1,2,3]", "augment.zoom_range: must be a float z in [0, 1)"),
        ("augment.brightness_range=[1.2,0.8]", "augment.brightness_range: must be [lower, upper] multipliers"),
        ("augment.shear_range=-5", "augment.shear_range: input should be greater than or equal to 0"),
        ("augment.fill_mode=mirror", "augment.fill_mode: 'mirror' is not allowed; choose one of: nearest"),
    ],
)
def test_bad_augment_values_are_one_line_errors(cli, tiny_config, setting, message):
    result = cli("augment", tiny_config, "--set", setting)
    assert result.exit_code == 2
    assert len(result.stderr.strip().splitlines()) == 1
    assert message in result.stderr


def test_preview_writes_the_grid_and_prints_its_path(cli, tiny_config, tmp_path):
    out = tmp_path / "outputs"
    result = cli("augment", tiny_config, "--set", "augment.rotation_range=20", "--count", 5, "--index", 3,
                 "--seed", 1, "--output-dir", out)  # fmt: skip
    assert result.exit_code == 0, result.output
    path = out / "tiny" / "augment-preview.png"
    assert result.stdout.strip() == f"augmentation preview written to {path}"
    assert path.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_preview_shows_mixing(cli, tmp_path, pattern_npz):
    config = write_config(
        tmp_path / "mix.yaml", data={"path": str(pattern_npz)}, train={"loss": "categorical_crossentropy"},
        augment={"mixup_alpha": 0.4, "cutmix_alpha": 1.0},
    )  # fmt: skip
    result = cli("augment", config, "--count", 4, "--output-dir", tmp_path / "outputs")
    assert result.exit_code == 0, result.output
    assert (tmp_path / "outputs" / "tiny" / "augment-preview.png").is_file()


def test_preview_without_augmentation_says_what_to_set(cli, tiny_config, tmp_path):
    result = cli("augment", tiny_config, "--output-dir", tmp_path)
    assert result.exit_code == 2
    assert "no augmentation is set" in result.stderr and "augment.rotation_range" in result.stderr


def test_preview_index_out_of_range(cli, tiny_config, tmp_path):
    result = cli("augment", tiny_config, "--set", "augment.horizontal_flip=true", "--index", 9999,
                 "--output-dir", tmp_path)  # fmt: skip
    assert result.exit_code == 2
    assert "--index 9999 is out of range" in result.stderr


def test_augment_help(cli):
    result = cli("augment", "--help")
    assert result.exit_code == 0
    for option in ("--index", "--count", "--seed", "--set", "--output-dir"):
        assert option in result.output


def test_fashion_aug_config_is_the_textbook_model_without_vertical_flips():
    textbook = yaml.safe_load((CONFIGS / "fashion.yaml").read_text())
    cfg = load_config(CONFIGS / "fashion-aug.yaml")
    assert cfg.model.layers == textbook["model"]["layers"]
    assert not cfg.augment.vertical_flip
    assert augmentation_block(cfg.augment) is not None
