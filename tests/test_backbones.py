"""Transfer learning: the backbone registry, input adaptation, weights, training phases,
the feature cache and ``cnnlab finetune`` / ``cnnlab backbones``.

No ImageNet weights can be downloaded here: the loading code is exercised with
``weights: none`` and with weight files (and a pre-seeded Keras cache) made by the tests.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import yaml
from tests.conftest import CONFIGS, REPO, make_pattern_dataset, requires_fashion, write_config

from cnnlab.config.backbones import REGISTRY
from cnnlab.model.backbones import base_layers, find_backbone
from cnnlab.backend import keras
from cnnlab.config import config_from_dict
from cnnlab.errors import ConfigError, ModelError
from cnnlab.model import build_model, check_model
from cnnlab.runs import RunDir
from cnnlab.train import train
from cnnlab.train.compile import compile_model
from cnnlab.config.finetune import finetune_config
from cnnlab.config.phases import plan_phases
from cnnlab.train.phases import apply_phase

HEAD = [{"type": "Dense", "units": 16, "activation": "relu"}, {"type": "Dense", "units": 3, "activation": "softmax"}]

# Written out independently of the registry: which keras.applications module's
# preprocess_input each backbone's weights expect.
EXPECTED_PREPROCESS_MODULE = {
    "vgg16": "vgg16", "vgg19": "vgg19", "resnet50": "resnet50", "resnet50v2": "resnet_v2",
    "resnet101": "resnet", "xception": "xception", "inceptionv3": "inception_v3",
    "inceptionresnetv2": "inception_resnet_v2", "mobilenetv2": "mobilenet_v2",
    "efficientnetb0": "efficientnet", "densenet121": "densenet", "convnext_tiny": "convnext",
}  # fmt: skip


def backbone_cfg(name: str, head=HEAD, **backbone):
    raw = {"seed": 3, "model": {"backbone": {"name": name, "weights": "none", **backbone}, "head": head}}
    return config_from_dict(raw)


def ids(variables) -> set[int]:
    return {id(v) for v in variables}


# ---------------------------------------------------------------- registry


def test_registry_lists_the_issue_backbones():
    assert set(REGISTRY) == set(EXPECTED_PREPROCESS_MODULE)
    for name, spec in REGISTRY.items():
        assert 32 <= spec.min_size <= spec.default_size, name
        assert callable(getattr(keras().applications, spec.constructor)), name
        assert spec.weights_file.endswith(".h5") and spec.weights_url.startswith("https://"), name
    assert REGISTRY["xception"].min_size == 71 and REGISTRY["inceptionv3"].min_size == 75


@pytest.mark.parametrize("name", list(REGISTRY))
def test_every_backbone_builds_at_its_minimum_size_and_trains_one_step(name):
    size = REGISTRY[name].min_size
    cfg = backbone_cfg(name, input_size=[size, size], mode="fine_tune", unfreeze=12)
    model = build_model(cfg, (28, 28, 1), 3)  # grayscale 28x28 in, like Fashion-MNIST
    assert model.input.shape[1:] == (28, 28, 1) and model.output.shape[1:] == (3,)
    head, fine = plan_phases(cfg)
    apply_phase(fine, model, cfg)
    compile_model(model, cfg, steps_per_epoch=1, optimizer_cfg=head.optimizer)  # lr 1e-3: visible steps
    model.run_eagerly = True  # tracing 12 graphs would take minutes; the fit tests below run compiled
    base_vars = ids(find_backbone(model).trainable_weights)
    assert base_vars, "fine_tune must unfreeze some base weights"
    before = [np.array(v) for v in model.trainable_weights]
    x, y = make_pattern_dataset(4, seed=5)
    logs = model.train_on_batch(x, y, return_dict=True)
    assert np.isfinite(logs["loss"])
    moved = [id(v) for b, v in zip(before, model.trainable_weights) if not np.array_equal(b, np.array(v))]
    assert set(moved) & base_vars, "the step must reach the unfrozen base layers"
    assert set(moved) - base_vars, "the step must train the head"


@pytest.mark.parametrize("name", ["efficientnetb0", "convnext_tiny"])
def test_backbone_models_rebuild_from_their_config_in_safe_mode(name):
    """What model.keras stores: custom layers registered, no Lambda, nested base included
    (efficientnet carries a Normalization layer, convnext Keras-internal custom layers)."""
    k = keras()
    model = build_model(backbone_cfg(name, input_size=[32, 32]), (28, 28, 1), 3)
    clone = k.saving.deserialize_keras_object(k.saving.serialize_keras_object(model), safe_mode=True)
    assert [type(layer).__name__ for layer in clone.layers] == [type(layer).__name__ for layer in model.layers]
    clone.set_weights(model.get_weights())
    x, _ = make_pattern_dataset(2, seed=1)
    np.testing.assert_allclose(clone.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-5, atol=1e-6)


# ---------------------------------------------------------------- preprocessing


@pytest.mark.parametrize("name", list(REGISTRY))
def test_preprocessing_is_the_backbones_own(name):
    from cnnlab.layers import BackbonePreprocess

    sample = np.random.default_rng(0).integers(0, 256, (2, 8, 8, 3)).astype("float32")
    ours = np.array(BackbonePreprocess(REGISTRY[name].family)(sample))
    module = getattr(keras().applications, EXPECTED_PREPROCESS_MODULE[name])
    np.testing.assert_allclose(ours, module.preprocess_input(sample.copy()), rtol=1e-6, atol=1e-5)


def test_modes_differ_so_the_comparison_above_can_fail():
    from cnnlab.layers import BackbonePreprocess

    sample = np.full((1, 4, 4, 3), 200.0, "float32")
    outputs = {f: np.array(BackbonePreprocess(f)(sample)) for f in ("resnet50", "xception", "densenet", "efficientnet")}
    assert len({o.round(4).tobytes() for o in outputs.values()}) == 4


@pytest.mark.parametrize("name", ["resnet50", "xception"])
def test_input_adaptation_inside_the_model(name):
    """Raw grayscale 28x28 -> RGB -> input_size -> the family's preprocess_input, in the model."""
    k, tf = keras(), pytest.importorskip("tensorflow")
    size = REGISTRY[name].min_size
    model = build_model(backbone_cfg(name, input_size=[size, size]), (28, 28, 1), 3)
    probe = k.Model(model.input, model.get_layer("preprocess").output)
    x, _ = make_pattern_dataset(2, seed=4)
    rgb = np.repeat(x.astype("float32"), 3, axis=-1)
    resized = tf.image.resize(rgb, (size, size), method="bilinear").numpy()
    expected = getattr(k.applications, EXPECTED_PREPROCESS_MODULE[name]).preprocess_input(resized)
    np.testing.assert_allclose(probe.predict(x, verbose=0), expected, rtol=1e-4, atol=1e-3)


# ---------------------------------------------------------------- phases


def test_trainable_weights_per_phase_and_batchnorm_stays_frozen():
    k = keras()
    cfg = backbone_cfg("resnet50", input_size=[32, 32], mode="fine_tune", unfreeze=30)
    model = build_model(cfg, (28, 28, 1), 3)
    base = find_backbone(model)
    head_vars = model.get_layer("dense").weights + model.get_layer("dense_1").weights
    head, fine = plan_phases(cfg)
    assert (head.name, fine.name) == ("head", "fine_tune")
    assert fine.optimizer.learning_rate == cfg.finetune.learning_rate

    apply_phase(head, model, cfg)
    assert ids(model.trainable_weights) == ids(head_vars)

    apply_phase(fine, model, cfg)
    top = base_layers(base)[-30:]
    batchnorm = [layer for layer in top if isinstance(layer, k.layers.BatchNormalization)]
    others = [layer for layer in top if not isinstance(layer, k.layers.BatchNormalization)]
    # resnet50's top 30 layers: from conv5_block1_1_relu up, 9 convolutions and 9 BatchNorms.
    assert len(batchnorm) == 9 and sum(len(layer.weights) for layer in others) == 9 * 2
    expected = head_vars + [v for layer in others for v in layer.weights]
    assert ids(model.trainable_weights) == ids(expected)
    assert len(model.trainable_weights) == 4 + 18  # head kernels and biases + 9 conv kernels and biases
    assert not ids(model.trainable_weights) & ids(v for layer in batchnorm for v in layer.weights)

    apply_phase(head, model, cfg)  # a phase sets every flag itself, whatever came before (resume)
    assert ids(model.trainable_weights) == ids(head_vars)


def test_unfreeze_from_a_named_layer():
    cfg = backbone_cfg("resnet50", input_size=[32, 32], mode="fine_tune", unfreeze_from="conv5_block3_1_conv")
    model = build_model(cfg, (28, 28, 1), 3)
    apply_phase(plan_phases(cfg)[1], model, cfg)
    trainable = [layer.name for layer in base_layers(find_backbone(model)) if layer.trainable_weights]
    assert trainable == ["conv5_block3_1_conv", "conv5_block3_2_conv", "conv5_block3_3_conv"]


def test_phase_2_trains_the_top_but_not_batchnorm_statistics():
    k = keras()
    cfg = config_from_dict({
        "seed": 2, "finetune": {"learning_rate": 1e-3},
        "model": {"backbone": {"name": "mobilenetv2", "weights": "none", "input_size": [32, 32],
                               "mode": "fine_tune", "unfreeze": 10}, "head": HEAD},
    })  # fmt: skip
    model = build_model(cfg, (28, 28, 1), 3)
    base = find_backbone(model)
    fine = plan_phases(cfg)[1]
    apply_phase(fine, model, cfg)
    compile_model(model, cfg, steps_per_epoch=4, optimizer_cfg=fine.optimizer, epochs=1)
    bn_stats = [v for layer in base.layers if isinstance(layer, k.layers.BatchNormalization)
                for v in (layer.moving_mean, layer.moving_variance)]  # fmt: skip
    top_conv = next(layer for layer in reversed(base_layers(base)) if isinstance(layer, k.layers.Conv2D))
    low_conv = next(layer for layer in base_layers(base) if isinstance(layer, k.layers.Conv2D))
    before = [np.array(v) for v in bn_stats], np.array(top_conv.kernel), np.array(low_conv.kernel)
    x, y = make_pattern_dataset(64, seed=6)
    model.fit(x, y, batch_size=16, epochs=1, verbose=0)  # compiled, as in cnnlab train
    assert all(np.array_equal(b, np.array(v)) for b, v in zip(before[0], bn_stats)), "BatchNorm statistics moved"
    assert not np.array_equal(before[1], np.array(top_conv.kernel)), "the unfrozen top did not train"
    assert np.array_equal(before[2], np.array(low_conv.kernel)), "a frozen layer trained"


# ---------------------------------------------------------------- weights


def test_weights_from_a_file_give_identical_outputs(tmp_path):
    x, _ = make_pattern_dataset(3, seed=7)
    source = build_model(backbone_cfg("mobilenetv2", input_size=[32, 32]), (28, 28, 1), 3)
    path = tmp_path / "base.weights.h5"
    find_backbone(source).save_weights(path)
    keras().utils.set_random_seed(99)  # a different random init, so equal outputs mean loaded weights
    loaded = build_model(backbone_cfg("mobilenetv2", input_size=[32, 32], weights=str(path)), (28, 28, 1), 3)
    fresh = build_model(backbone_cfg("mobilenetv2", input_size=[32, 32]), (28, 28, 1), 3)

    def features(model):
        return keras().Model(model.input, model.get_layer("pooling").output).predict(x, verbose=0)

    np.testing.assert_array_equal(features(loaded), features(source))
    # Random-init MobileNetV2 features are tiny (~1e-12), so compare relative to their size.
    assert not np.allclose(features(fresh), features(source), rtol=1e-2, atol=0)


def test_weights_of_another_backbone_are_refused(tmp_path):
    path = tmp_path / "vgg.weights.h5"
    find_backbone(build_model(backbone_cfg("vgg16", input_size=[32, 32]), (32, 32, 3), 3)).save_weights(path)
    with pytest.raises(ModelError, match=r"cannot load weights .*vgg\.weights\.h5 into mobilenetv2"):
        build_model(backbone_cfg("mobilenetv2", input_size=[32, 32], weights=str(path)), (28, 28, 1), 3)


def run_cnnlab_process(args: list, keras_home: Path, cwd: Path) -> subprocess.CompletedProcess:
    """A fresh process: Keras reads $KERAS_HOME once, when it is imported."""
    env = {**os.environ, "KERAS_HOME": str(keras_home), "CNNLAB_OFFLINE": "1", "TF_CPP_MIN_LOG_LEVEL": "3"}
    return subprocess.run([sys.executable, *map(str, args)], env=env, cwd=cwd, capture_output=True, text=True, timeout=300)


def test_imagenet_weights_come_from_a_pre_seeded_keras_cache(tmp_path):
    """The file name and folder Keras itself uses ($KERAS_HOME/models), loaded by Keras's
    own weights="imagenet" code. MobileNetV2's download has no checksum, so a file made
    here passes for the real one."""
    h5py = pytest.importorskip("h5py")
    from keras.src.legacy.saving.legacy_h5_format import save_weights_to_hdf5_group

    source = find_backbone(build_model(backbone_cfg("mobilenetv2", input_size=[32, 32]), (28, 28, 1), 3))
    cache = tmp_path / "keras_home" / "models"
    cache.mkdir(parents=True)
    with h5py.File(cache / REGISTRY["mobilenetv2"].weights_file, "w") as f:  # the legacy layout of Keras's files
        save_weights_to_hdf5_group(f, source)
    script = (
        "import sys, numpy as np; sys.path.insert(0, sys.argv[1]); from tests.test_backbones import backbone_cfg; "
        "from cnnlab.model import build_model; from cnnlab.model.backbones import find_backbone; "
        "m = build_model(backbone_cfg('mobilenetv2', input_size=[32, 32], weights='imagenet'), (28, 28, 1), 3); "
        "np.savez(sys.argv[2], *find_backbone(m).get_weights())"
    )
    done = run_cnnlab_process(["-c", script, REPO, tmp_path / "loaded.npz"], tmp_path / "keras_home", tmp_path)
    assert done.returncode == 0, done.stderr[-2000:]
    with np.load(tmp_path / "loaded.npz") as loaded:
        arrays = [loaded[f"arr_{i}"] for i in range(len(loaded.files))]
    assert len(arrays) == len(source.get_weights())
    for a, b in zip(source.get_weights(), arrays):
        np.testing.assert_array_equal(a, b)


def test_offline_imagenet_error_names_the_file_and_the_ways_out(tmp_path, pattern_npz):
    empty = tmp_path / "empty_keras_home"
    config = write_config(tmp_path / "ft.yaml", data={"path": str(pattern_npz)}, model={
        "layers": None, "backbone": {"name": "resnet50", "weights": "imagenet", "input_size": [32, 32]},
        "head": HEAD})  # fmt: skip
    out = tmp_path / "outputs"
    done = run_cnnlab_process(["-m", "cnnlab", "finetune", "--backbone", "resnet50", config, "--output-dir", out],
                              empty, tmp_path)  # fmt: skip
    assert done.returncode != 0
    line = done.stderr.strip().splitlines()[-1]
    assert line.startswith("Error: ImageNet weights for resnet50 (resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5)")
    assert f"are not in {empty / 'models'}" in line
    for way_out in ("connect to the internet", "pre-seed the cache", "weights: none", "--weights PATH"):
        assert way_out in line
    assert not list(out.glob("*/*/model.keras")), "no silent switch to random weights"


def test_finetune_cli_says_when_it_picks_xceptions_input_size(tmp_path):
    done = run_cnnlab_process(["-m", "cnnlab", "finetune", "--backbone", "xception", CONFIGS / "finetune.yaml",
                               "--set", "data.limit=50", "--output-dir", tmp_path / "outputs"],
                              tmp_path / "empty_keras_home", tmp_path)  # fmt: skip
    lines = done.stderr.strip().splitlines()
    assert "Note: xception needs at least 71x71: using input_size [71, 71] instead of the config's [32, 32]" in lines
    assert done.returncode != 0 and lines[-1].startswith("Error: ImageNet weights for xception")  # offline here


# ---------------------------------------------------------------- config


@pytest.mark.parametrize(
    "backbone, extra, message",
    [
        ({"name": "resnet5"}, {}, r"model\.backbone\.name: 'resnet5' is not allowed \(did you mean 'resnet50'\?\)"),
        ({"name": "xception", "input_size": [32, 32]}, {}, r"smaller than xception's minimum 71x71"),
        ({"name": "vgg16", "mode": "fine_tune"}, {}, r"fine_tune needs unfreeze: N .* or unfreeze_from"),
        ({"name": "vgg16", "unfreeze": 3}, {}, r"model\.backbone\.unfreeze: only applies to mode: fine_tune"),
        ({"name": "vgg16", "mode": "fine_tune", "unfreeze": 3, "unfreeze_from": "block5_conv3"}, {}, "keep one"),
        ({"name": "vgg16", "mode": "fine_tune", "unfreeze": 3, "cache_features": True}, {},
         r"cache_features: only works with mode: feature_extraction"),
        ({"name": "vgg16", "cache_features": True}, {"augment": {"horizontal_flip": True}},
         r"cache_features: cannot be used with augmentation \(augment\.horizontal_flip\)"),
        ({"name": "vgg16", "weights": "/no/such/file.h5"}, {}, r"model\.backbone\.weights: '/no/such/file\.h5' does not exist"),
        ({"name": "run"}, {}, r"name: run needs weights: a cnnlab run directory"),
        ({"name": "vgg16"}, {"model_layers": True}, r"model\.layers: cannot be used with model\.backbone"),
    ],
)  # fmt: skip
def test_config_errors_name_the_key_and_the_fix(backbone, extra, message):
    raw = {"model": {"backbone": backbone}}
    if extra.pop("model_layers", False):
        raw["model"]["layers"] = [{"type": "Flatten"}]
    with pytest.raises(ConfigError, match=message):
        config_from_dict({**raw, **extra})


def test_a_backbone_config_needs_no_layers_and_a_head_needs_a_backbone():
    cfg = config_from_dict({"model": {"backbone": {"name": "resnet50"}}})
    assert cfg.model.layers is None and cfg.model.backbone.weights == "imagenet"
    with pytest.raises(ConfigError, match=r"model\.head: needs model\.backbone"):
        config_from_dict({"model": {"layers": [{"type": "Flatten"}], "head": HEAD}})
    with pytest.raises(ConfigError, match=r"model\.head\[0\]\.type: unknown layer 'Dens'"):
        check_model(config_from_dict({"model": {"backbone": {"name": "resnet50"}, "head": [{"type": "Dens"}]}}))


def test_unfreeze_is_checked_against_the_built_base():
    with pytest.raises(ConfigError, match=r"unfreeze_from: 'conv5_block3_out_' is not a layer of resnet50 "
                                          r"\(did you mean 'conv5_block3_out'\?\)"):  # fmt: skip
        build_model(backbone_cfg("resnet50", input_size=[32, 32], mode="fine_tune", unfreeze_from="conv5_block3_out_"),
                    (28, 28, 1), 3)  # fmt: skip
    with pytest.raises(ConfigError, match=r"unfreeze: 500 is more than the 18 layers of vgg16"):
        build_model(backbone_cfg("vgg16", input_size=[32, 32], mode="fine_tune", unfreeze=500), (28, 28, 1), 3)


def test_finetune_picks_a_valid_input_size_for_xception_and_says_so():
    cfg, notes = finetune_config(CONFIGS / "finetune.yaml", "xception", weights="none")
    assert cfg.model.backbone.name == "xception" and cfg.model.backbone.input_size == (71, 71)
    assert notes == ["xception needs at least 71x71: using input_size [71, 71] instead of the config's [32, 32]"]
    cfg, notes = finetune_config(CONFIGS / "finetune.yaml", "resnet50", weights="none")
    assert cfg.model.backbone.input_size == (32, 32) and notes == []
    with pytest.raises(ConfigError, match="smaller than xception's minimum"):  # an explicit --set is obeyed, not fixed
        finetune_config(CONFIGS / "finetune.yaml", "xception", overrides=["model.backbone.input_size=[40, 40]"])
    cfg, _ = finetune_config(CONFIGS / "finetune.yaml", "vgg16", mode="feature_extraction", weights="none")
    assert cfg.model.backbone.mode == "feature_extraction" and cfg.model.backbone.unfreeze is None


# ---------------------------------------------------------------- training end to end


def test_finetune_cli_end_to_end_leaves_a_normal_run(cli, tmp_path, pattern_npz):
    out = tmp_path / "outputs"
    result = cli(
        "finetune", "--backbone", "mobilenetv2", "--weights", "none", "--unfreeze", "10",
        "--set", "data.source=npz", "--set", f"data.path={pattern_npz}", "--set", "train.epochs=2",
        "--set", "finetune.epochs=1", "--set", "train.verbose=0", "--set", "model.head.2.units=3",
        "--set", "train.early_stopping.enabled=false", "--no-report", "--output-dir", out,
    )  # fmt: skip
    assert result.exit_code == 0, result.output
    run = Path(result.stdout.strip().splitlines()[-1].removeprefix("run saved to "))
    for name in ("config.yaml", "model.keras", "history.csv", "metrics.json", "summary.txt", "status.json"):
        assert (run / name).is_file(), name
    history = RunDir(run).read_history()
    assert history["epoch"] == [1, 2, 3] and history["phase"] == [1, 1, 2]  # one history, epochs continue
    assert history["learning_rate"][-1] == pytest.approx(1e-5)  # phase 2 runs at finetune.learning_rate
    assert json.loads((run / "status.json").read_text())["state"] == "done"
    saved = yaml.safe_load((run / "config.yaml").read_text())["model"]["backbone"]
    assert (saved["name"], saved["weights"], saved["mode"], saved["unfreeze"]) == ("mobilenetv2", "none", "fine_tune", 10)
    from cnnlab.runs import load_model

    model = load_model(run / "model.keras")  # safe mode
    x, _ = make_pattern_dataset(5, seed=9)  # raw uint8 28x28x1, like every cnnlab model
    probs = model.predict(x, verbose=0)
    assert probs.shape == (5, 3) and np.allclose(probs.sum(axis=1), 1, atol=1e-5)

    # weights: a finetune run -> its nested base becomes the new model's backbone
    again = build_model(backbone_cfg("mobilenetv2", input_size=[32, 32], weights=str(run)), (28, 28, 1), 3)
    for a, b in zip(find_backbone(model).get_weights(), find_backbone(again).get_weights()):
        np.testing.assert_array_equal(a, b)


def test_cached_features_train_the_head_and_save_the_full_raw_pixel_model(tmp_path, pattern_npz):
    cfg = config_from_dict({
        "name": "cached", "seed": 1,
        "data": {"source": "npz", "path": str(pattern_npz)},
        "model": {"backbone": {"name": "vgg16", "weights": "none", "input_size": [32, 32],
                               "cache_features": True}, "head": HEAD},  # no BatchNorm: useful random features
        "train": {"epochs": 3, "verbose": 0, "tensorboard": False, "early_stopping": {"enabled": False}},
    })  # fmt: skip
    run = train(cfg, tmp_path / "outputs")
    from cnnlab.inspect.evaluate import evaluate_model
    from cnnlab.runs import load_model

    model = load_model(run / "model.keras")
    assert model.input.shape[1:] == (28, 28, 1) and find_backbone(model) is not None
    x_test, y_test = (np.load(pattern_npz)[k] for k in ("x_test", "y_test"))
    metrics = evaluate_model(model, x_test, y_test, ["0", "1", "2"]).metrics
    assert metrics["test_accuracy"] == pytest.approx(RunDir(run).read_metrics()["test_accuracy"], abs=0.012)
    assert RunDir(run).read_metrics()["test_accuracy"] > 0.5  # the head learned from the cached features


def make_digits(n: int, seed: int):
    """MNIST-like: a digit 0-9 drawn with a random size, offset and rotation, plus noise."""
    from PIL import Image, ImageDraw, ImageFont

    rng = np.random.default_rng(seed)
    fonts = {s: ImageFont.load_default(size=s) for s in range(16, 25)}
    x, y = np.zeros((n, 28, 28, 1), np.uint8), rng.integers(0, 10, n)
    for i, digit in enumerate(y):
        img = Image.new("L", (28, 28), 0)
        where = (14 + int(rng.integers(-3, 4)), 14 + int(rng.integers(-3, 4)))
        font = fonts[int(rng.integers(16, 25))]
        ImageDraw.Draw(img).text(where, str(digit), fill=int(rng.integers(180, 256)), font=font, anchor="mm")
        img = img.rotate(float(rng.uniform(-15, 15)), resample=Image.BILINEAR)
        x[i, ..., 0] = np.clip(np.asarray(img, np.int16) + rng.integers(0, 30, (28, 28)), 0, 255)
    return x, y


@requires_fashion
def test_transfer_from_a_digit_run_beats_the_same_head_on_a_random_base(tmp_path, capsys):
    from cnnlab.runs import load_model

    x_train, y_train = make_digits(3000, seed=1)
    x_test, y_test = make_digits(500, seed=2)
    np.savez(tmp_path / "digits.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    quiet = {"verbose": 0, "tensorboard": False}
    layers = yaml.safe_load((CONFIGS / "fashion.yaml").read_text())["model"]["layers"]
    digits = train(config_from_dict({"name": "digits", "seed": 1, "model": {"layers": layers},
                                     "data": {"source": "npz", "path": str(tmp_path / "digits.npz")},
                                     "train": {"epochs": 2, **quiet}}), tmp_path / "outputs")  # fmt: skip
    assert RunDir(digits).read_metrics()["test_accuracy"] > 0.7
    random_base = load_model(digits / "model.keras")  # the same network with its weights before training
    random_base.load_weights(digits / "initial.weights.h5")
    random_base.save(tmp_path / "random.keras")

    def fashion_accuracy(weights: str) -> float:
        cfg = config_from_dict({
            "name": "fashion-transfer", "seed": 1, "data": {"source": "fashion_mnist", "limit": 2000},
            "model": {"backbone": {"name": "run", "weights": weights, "pooling": "flatten"},
                      "head": [{"type": "Dense", "units": 10, "activation": "softmax"}]},
            "train": {"epochs": 3, **quiet},
        })  # fmt: skip
        return RunDir(train(cfg, tmp_path / "outputs")).read_metrics()["test_accuracy"]

    transferred, random = fashion_accuracy(str(digits)), fashion_accuracy(str(tmp_path / "random.keras"))
    with capsys.disabled():
        print(f"\n[transfer] Fashion-MNIST 2000, frozen base + softmax head: digit-run base {transferred:.4f}, "
              f"random base {random:.4f}")
    assert transferred > random + 0.03


def test_a_registry_backbone_cannot_take_a_plain_run(tmp_path, tiny_config):
    from cnnlab.config import load_config

    run = train(load_config(tiny_config, ["train.epochs=1"]), tmp_path / "outputs")
    with pytest.raises(ConfigError, match=r"holds no pretrained backbone, not vgg16; use name: run"):
        build_model(backbone_cfg("vgg16", input_size=[32, 32], weights=str(run)), (28, 28, 1), 3)


# ---------------------------------------------------------------- cnnlab backbones / --help


def test_backbones_command_lists_sizes_and_preprocessing(cli):
    result = cli("backbones")
    assert result.exit_code == 0
    rows = {line.split()[0]: line.split() for line in result.stdout.splitlines()[1:14]}
    assert set(rows) == set(REGISTRY) | {"run"}
    assert rows["xception"][1:4] == ["71x71", "299x299", "tf"]
    assert rows["resnet50"][1:4] == ["32x32", "224x224", "caffe"]


@pytest.mark.parametrize("command", ["finetune", "backbones"])
def test_help(cli, command):
    result = cli(command, "--help")
    assert result.exit_code == 0 and "Usage: cli " + command in result.stdout


def test_pooling_auto_is_avg_for_imagenet_bases_and_flatten_for_a_run_base(tmp_path):
    """A learner's frozen base from their own run lost to averaging (0.33 vs 0.80 test
    accuracy with flatten at the same settings), so auto picks flatten there."""
    from cnnlab.backend import keras

    imagenet = build_model(backbone_cfg("mobilenetv2", input_size=[32, 32]), (28, 28, 1), 3)
    assert isinstance(imagenet.get_layer("pooling"), keras().layers.GlobalAveragePooling2D)
    from cnnlab.config import load_config

    source = build_model(load_config(CONFIGS / "fashion.yaml"), (28, 28, 1), 10)
    source.save(tmp_path / "source.keras")
    cfg = config_from_dict({"model": {"backbone": {"name": "run", "weights": str(tmp_path / "source.keras")}}})
    assert cfg.model.backbone.pooling == "auto"
    assert isinstance(build_model(cfg, (28, 28, 1), 10).get_layer("pooling"), keras().layers.Flatten)


def test_summary_says_what_each_phase_trains(cli, tmp_path, pattern_npz):
    config = write_config(tmp_path / "ft.yaml", data={"path": str(pattern_npz)}, model={"layers": None,
        "backbone": {"name": "mobilenetv2", "weights": "none", "input_size": [32, 32], "mode": "fine_tune",
                     "unfreeze": 10}})  # fmt: skip
    result = cli("summary", config)
    assert result.exit_code == 0, result.output
    lines = result.stdout.split("Phases (what each trains):\n")[1].splitlines()
    assert lines[0].startswith("  1. head: 2 epochs at learning rate 0.001,") and "the head only, base frozen" in lines[0]
    assert lines[1].startswith("  2. fine_tune: 10 epochs at learning rate 1e-05,") and "(BatchNorm stays frozen)" in lines[1]
    head, both = (int(line.split(", ")[1].split()[0].replace(",", "")) for line in lines[:2])
    assert both > head


def test_finetune_a_run_with_the_default_config_announces_both_phases(cli, fashion_run, tmp_path):
    """Issue 24: `finetune --backbone run` failed with the default config (its input_size
    [32, 32] against the run's [28, 28], then its unfreeze 10 against the run's 5 base
    layers); finetune had no --epochs; the console never said which phase was training."""
    from cnnlab.config import load_config
    from cnnlab.runs import RunDir

    result = cli("finetune", CONFIGS / "finetune.yaml", "--backbone", "run", "--weights", fashion_run, "--epochs", "1",
                 "--finetune-epochs", "1", "--set", "data.limit=300", "--set", "train.verbose=0", "--no-report",
                 "--output-dir", tmp_path)  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "Note: --backbone run: the base takes the run's own input size" in result.stderr
    assert "phase 2 unfreezes all 5" in result.stderr
    lines = result.stdout.splitlines()
    assert lines[0].startswith("phase 1 of 2, head: 1 epoch at learning rate 0.001,")
    assert lines[1].startswith("phase 2 of 2, fine_tune: 1 epoch at learning rate 1e-05,")
    run = next((tmp_path / "finetune").iterdir())
    saved = load_config(RunDir(run).config)
    assert saved.model.backbone.input_size is None and (saved.train.epochs, saved.finetune.epochs) == (1, 1)
    assert "--epochs" in cli("finetune", "--help").output and "--finetune-epochs" in cli("finetune", "--help").output
