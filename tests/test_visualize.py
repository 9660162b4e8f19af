"""cnnlab visualize: layer lookup, feature maps checked against a direct layer-by-layer
computation (textbook model, BatchNorm model, nested backbone), Grad-CAM on a model
trained to find a bright square, gradient ascent, the plot grids, and the CLI errors."""

from __future__ import annotations

import json

import numpy as np
import pytest
from PIL import Image

from tests.conftest import TINY_LAYERS, write_config

SQUARE = 7  # side of the bright square in the Grad-CAM data


def panels(fig) -> list:
    """The Axes of figures that give each panel one (histograms, Grad-CAM, strip, pairs)."""
    from cnnlab.inspect.draw import PANEL

    return [ax for ax in fig.axes if ax.get_label() == PANEL]


def grid_panels(fig) -> list:
    """The tiles of the mosaic grids (filters, feature maps, patterns), as the figure lists them."""
    from cnnlab.inspect.draw import grid_panels as listed

    return listed(fig)


def one_line_error(result, starts: str) -> str:
    assert result.exit_code != 0
    text = result.stderr.strip()
    assert "\n" not in text, text
    assert text.startswith(f"Error: {starts}"), text
    assert "Traceback" not in result.output
    return text


def direct_forward(layers, x, stop: str):
    """Call layers one after another on x (a plain chain), stopping after ``stop``."""
    h = x
    for layer in layers:
        h = layer(h)
        if layer.name == stop:
            return np.asarray(h)
    raise AssertionError(f"{stop} not in the chain")


# ---------------------------------------------------------------- fixtures


@pytest.fixture(scope="module")
def fashion(fashion_run):
    """The shared real run, loaded once, with its first test images."""
    from cnnlab.runs import load_run
    from cnnlab.inspect.visualize import test_split

    loaded = load_run(str(fashion_run))
    x_test, y_test = test_split(loaded)
    return loaded, x_test[:8], y_test[:8]


def make_square_dataset(n: int, seed: int):
    """Dark noise; class 1 adds a bright SQUARE x SQUARE square at a random place.
    -> uint8 (n, 28, 28, 1), labels, top-left corners (n, 2) (-1 for class 0)."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 50, (n, 28, 28, 1)).astype(np.uint8)
    y = rng.integers(0, 2, n)
    corners = np.full((n, 2), -1)
    for i in np.flatnonzero(y == 1):
        r, c = rng.integers(0, 28 - SQUARE + 1, 2)
        x[i, r : r + SQUARE, c : c + SQUARE] = 230
        corners[i] = (r, c)
    return x, y, corners


@pytest.fixture(scope="module")
def square_run(tmp_path_factory):
    """A tiny conv net trained (with cnnlab train) to say whether a bright square is present."""
    from cnnlab.config import load_config
    from cnnlab.train import train

    tmp = tmp_path_factory.mktemp("square")
    x_train, y_train, _ = make_square_dataset(800, seed=1)
    x_test, y_test, corners = make_square_dataset(40, seed=2)
    np.savez(tmp / "squares.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    layers = [
        {"type": "Conv2D", "filters": 8, "kernel_size": 3, "activation": "relu", "padding": "same"},
        {"type": "MaxPooling2D", "pool_size": 2},
        {"type": "Conv2D", "filters": 16, "kernel_size": 3, "activation": "relu", "padding": "same"},
        {"type": "GlobalMaxPooling2D"},
        {"type": "Dense", "units": 2, "activation": "softmax"},
    ]
    cfg_path = write_config(
        tmp / "squares.yaml",
        name="squares",
        data={"path": str(tmp / "squares.npz")},
        model={"layers": layers},
        train={"epochs": 4, "optimizer": {"name": "adam", "learning_rate": 0.003}},
    )
    run = train(load_config(cfg_path), tmp / "outputs")
    return run, x_test, y_test, corners


@pytest.fixture(scope="module")
def bn_run(tmp_path_factory):
    """A tiny model with BatchNormalization, trained for 2 epochs on the pattern data."""
    from cnnlab.config import load_config
    from cnnlab.train import train
    from tests.conftest import make_pattern_dataset

    tmp = tmp_path_factory.mktemp("bn")
    x_train, y_train = make_pattern_dataset(200, seed=1)
    x_test, y_test = make_pattern_dataset(30, seed=2)
    np.savez(tmp / "p.npz", x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    layers = [
        {"type": "Conv2D", "filters": 6, "kernel_size": 3, "padding": "same", "use_bias": False},
        {"type": "BatchNormalization"},
        {"type": "Activation", "activation": "relu"},
        {"type": "MaxPooling2D", "pool_size": 2},
        *TINY_LAYERS[2:],
    ]
    cfg_path = write_config(tmp / "bn.yaml", name="bn", data={"path": str(tmp / "p.npz")}, model={"layers": layers})
    return train(load_config(cfg_path), tmp / "outputs")


@pytest.fixture(scope="module")
def nested_model(tmp_path_factory):
    """A .keras model whose backbone is a nested keras.applications.MobileNetV2
    (weights=None, 32x32): image 28x28x1 -> rescale -> resize -> 1x1 conv to RGB ->
    backbone -> pooling -> softmax. Saved and loaded back, as a run's model would be."""
    from cnnlab.backend import keras

    k = keras()
    k.utils.set_random_seed(0)
    inputs = k.Input((28, 28, 1), name="image")
    x = k.layers.Rescaling(1 / 255, name="rescaling")(inputs)
    x = k.layers.Resizing(32, 32, name="resizing")(x)
    x = k.layers.Conv2D(3, 1, name="to_rgb")(x)
    base = k.applications.MobileNetV2(input_shape=(32, 32, 3), alpha=0.35, include_top=False, weights=None)
    x = base(x, training=False)
    x = k.layers.GlobalAveragePooling2D(name="pool")(x)
    outputs = k.layers.Dense(3, activation="softmax", name="dense")(x)
    path = tmp_path_factory.mktemp("nested") / "nested.keras"
    k.Model(inputs, outputs, name="nested").save(path)
    from cnnlab.runs import load_model

    return path, load_model(path), base.name


# ---------------------------------------------------------------- layer lookup


def test_layer_names_classes_all_and_errors(fashion):
    from cnnlab.errors import ModelError
    from cnnlab.inspect.layer_paths import find_layers, last_map_layer

    model = fashion[0].model
    assert [r.path for r in find_layers(model, "conv2d_1")] == ["conv2d_1"]
    assert [r.path for r in find_layers(model, "Conv2D")] == ["conv2d"]  # the first layer of that class
    assert [r.path for r in find_layers(model, "MaxPooling2D")] == ["max_pooling2d"]
    assert [r.path for r in find_layers(model, "all")] == ["conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1"]
    assert last_map_layer(model).path == "conv2d_1"
    with pytest.raises(ModelError, match=r"no layer 'conv2d_9' .*did you mean 'conv2d_1'.*conv2d, max_pooling2d"):
        find_layers(model, "conv2d_9")


def test_nested_lookup_full_path_unique_inner_name_and_ambiguity(nested_model):
    from cnnlab.backend import keras
    from cnnlab.errors import ModelError
    from cnnlab.inspect.layer_paths import find_layers, last_map_layer

    _, model, base = nested_model
    assert find_layers(model, f"{base}/Conv1")[0].path == f"{base}/Conv1"
    assert find_layers(model, "Conv1")[0].path == f"{base}/Conv1"  # unique inner name
    assert find_layers(model, "DepthwiseConv2D")[0].path == f"{base}/expanded_conv_depthwise"
    assert last_map_layer(model).path == base  # the backbone's output is its last feature map
    all_paths = [r.path for r in find_layers(model, "all")]
    assert all_paths[0] == "to_rgb" and f"{base}/Conv1" in all_paths and len(all_paths) > 30
    with pytest.raises(ModelError, match=rf"inside {base} \(\d+ layers, use {base}/NAME\): Conv1, bn_Conv1"):
        find_layers(model, "nope")

    k = keras()

    def block(name):
        i = k.Input((8, 8, 1))
        return k.Model(i, k.layers.Conv2D(2, 3, name="inner_conv")(i), name=name)

    i = k.Input((8, 8, 1))
    two = k.Model(i, k.layers.Add()([block("a")(i), block("b")(i)]))
    with pytest.raises(ModelError, match=r"occurs in several nested models \(a/inner_conv, b/inner_conv\)"):
        find_layers(two, "inner_conv")


# ---------------------------------------------------------------- feature maps == direct computation


def test_feature_maps_equal_direct_computation_textbook(fashion):
    from cnnlab.inspect.layer_paths import find_layers
    from cnnlab.inspect.probes import Probe, feature_maps

    loaded, x, _ = fashion
    model = loaded.model
    for name in ("conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1"):
        maps = feature_maps(Probe(model, find_layers(model, name)[0]), x[:3])
        expected = direct_forward(model.layers[1:], x[:3].astype(np.float32), name)
        assert maps.shape == expected.shape
        np.testing.assert_allclose(maps, expected, rtol=1e-5, atol=1e-5)
    assert maps.shape == (3, 7, 7, 64)


def test_feature_maps_equal_direct_computation_nested_backbone(nested_model):
    from cnnlab.inspect.layer_paths import find_layers
    from cnnlab.inspect.probes import Probe, feature_maps

    _, model, base_name = nested_model
    base = model.get_layer(base_name)
    x = np.random.default_rng(3).integers(0, 256, (2, 28, 28, 1)).astype(np.float32)
    outer_chain = [model.get_layer(n) for n in ("rescaling", "resizing", "to_rgb")]
    backbone_in = direct_forward(outer_chain, x, "to_rgb")  # (2, 32, 32, 3)
    # Block 1 of MobileNetV2 is a plain chain (no residual add): call its layers one by one.
    for inner in ("Conv1", "bn_Conv1", "expanded_conv_project_BN", "block_1_depthwise_relu"):
        maps = feature_maps(Probe(model, find_layers(model, inner)[0]), x)
        expected = direct_forward(base.layers[1:], backbone_in, inner)
        np.testing.assert_allclose(maps, expected, rtol=1e-4, atol=1e-5)
    # The backbone as one layer of the outer model: its whole output.
    maps = feature_maps(Probe(model, find_layers(model, base_name)[0]), x)
    np.testing.assert_allclose(maps, np.asarray(base(backbone_in)), rtol=1e-4, atol=1e-5)


def test_feature_maps_equal_direct_computation_batchnorm(bn_run):
    from cnnlab.inspect.layer_paths import find_layers
    from cnnlab.inspect.probes import Probe, feature_maps
    from cnnlab.runs import load_run
    from cnnlab.inspect.visualize import test_split

    loaded = load_run(str(bn_run))
    x = test_split(loaded)[0][:4].astype(np.float32)
    model = loaded.model
    bn = model.get_layer("batch_normalization")
    assert not np.allclose(np.asarray(bn.moving_mean), 0)  # trained: inference mode really differs
    for name in ("batch_normalization", "activation"):
        maps = feature_maps(Probe(model, find_layers(model, name)[0]), x)
        np.testing.assert_allclose(maps, direct_forward(model.layers[1:], x, name), rtol=1e-5, atol=1e-5)


# ---------------------------------------------------------------- grids and normalisation


def test_filter_and_feature_map_grids_count_panels_and_say_n_of_m(fashion):
    from cnnlab.inspect.layer_paths import conv_kernel, find_layers
    from cnnlab.inspect.probes import Probe, feature_maps
    from cnnlab.inspect.draw import plot_feature_maps, plot_filters

    loaded, x, _ = fashion
    model = loaded.model
    conv1, conv2 = model.get_layer("conv2d"), model.get_layer("conv2d_1")
    assert len(grid_panels(plot_filters(conv_kernel(conv1), "conv2d"))) == 32
    kernel = conv_kernel(conv2)
    fig = plot_filters(kernel, "conv2d_1")
    shown = grid_panels(fig)
    assert len(shown) == 64 and "all 64 filters" in fig._suptitle.get_text()
    assert [p.label.get_text() for p in shown] == [f"#{i}" for i in range(64)]
    for i, panel in enumerate(shown):  # each tile shows its own filter (input channel 0)
        np.testing.assert_allclose(panel.pixels(), kernel[:, :, 0, i], rtol=1e-6)
    # One symmetric scale centred at zero, shared by every panel.
    limits = {tuple(p.image.get_clim()) for p in shown}
    assert len(limits) == 1 and next(iter(limits))[0] == -next(iter(limits))[1] < 0
    assert len(fig.axes) == 2  # the mosaic and its colour bar: no Axes per panel

    maps = feature_maps(Probe(model, find_layers(model, "conv2d_1")[0]), x[:1])[0]
    fig = plot_feature_maps(maps, x[0], "conv2d_1", max_maps=16)
    assert len(grid_panels(fig)) == 16
    assert "16 of 64 channels shown" in fig._suptitle.get_text()


def test_dead_channels_survive_normalisation_and_show_in_stats():
    """A channel that is zero everywhere (std 0) is drawn as 'dead', never as NaN;
    Grad-CAM with no positive evidence is all zeros, not NaN."""
    from cnnlab.backend import keras
    from cnnlab.inspect.layer_paths import find_layers
    from cnnlab.inspect.probes import Probe, channel_stats, feature_maps, grad_cam
    from cnnlab.inspect.draw import normalise_maps, plot_feature_maps, plot_grad_cam

    k = keras()
    inputs = k.Input((12, 12, 1), name="image")
    x = k.layers.Rescaling(1 / 255)(inputs)
    x = k.layers.Conv2D(3, 3, activation="relu", name="conv2d")(x)
    x = k.layers.Flatten()(x)
    model = k.Model(inputs, k.layers.Dense(2, activation="softmax")(x))
    kernel, bias = model.get_layer("conv2d").get_weights()
    kernel[..., 0], kernel[..., 2] = np.abs(kernel[..., 0]), np.abs(kernel[..., 2])  # these two always fire
    kernel[..., 1], bias[:] = 0.0, (0.0, -1.0, 0.0)  # channel 1 can never fire
    model.get_layer("conv2d").set_weights([kernel, bias])

    probe = Probe(model, find_layers(model, "conv2d")[0])
    images = np.random.default_rng(0).integers(0, 256, (5, 12, 12, 1)).astype(np.uint8)
    stats = channel_stats(probe, images, batch_size=2)
    assert stats["dead"] == [1]
    assert stats["zero_fraction"][1] == 1.0 and stats["mean"][1] == 0.0

    maps = feature_maps(probe, images[:1])[0]
    shown, constant = normalise_maps(maps)
    assert np.isfinite(shown).all() and list(constant) == [False, True, False]
    # 1x1 maps (a backbone's last block on small inputs) share one scale: a pixel has no range of its own.
    shown, constant = normalise_maps(np.array([[[-1.0, 0.0, 3.0]]]))
    np.testing.assert_allclose(shown[0, 0], [0.0, 0.25, 1.0])
    assert list(constant) == [False, True, False]
    shown = grid_panels(plot_feature_maps(maps, images[0], "conv2d"))
    assert [p.label.get_text() for p in shown] == ["#0", "#1 zero", "#2"]
    assert [p.label.get_color() for p in shown] == ["black", "tab:red", "black"]
    assert not shown[1].pixels().any() and shown[0].pixels().max() == 1  # the dead map drawn as 0, the others 0..1

    model.get_layer("conv2d").set_weights([np.zeros_like(kernel), np.full_like(bias, -1.0)])  # all dead
    cam = grad_cam(probe, images[0], 0)
    assert cam.shape == (12, 12) and np.isfinite(cam).all() and cam.max() == 0
    assert "no positive evidence" in panels(plot_grad_cam(images[0], [("c", cam)], "conv2d"))[0].get_title()


# ---------------------------------------------------------------- Grad-CAM and gradient ascent


def test_grad_cam_peak_falls_inside_the_bright_square(square_run):
    from cnnlab.inspect.layer_paths import find_layers, last_map_layer
    from cnnlab.inspect.probes import Probe, grad_cam, predict
    from cnnlab.runs import load_run

    run, x_test, y_test, corners = square_run
    model = load_run(str(run)).model
    assert last_map_layer(model).path == "conv2d_1"
    probe = Probe(model, find_layers(model, "conv2d_1")[0])
    with_square = np.flatnonzero(y_test == 1)[:12]
    assert len(with_square) >= 8
    inside = 0
    for i in with_square:
        assert predict(probe, x_test[i]).argmax() == 1  # the model did learn the task
        cam = grad_cam(probe, x_test[i], 1)
        assert cam.shape == (28, 28) and cam.min() >= 0.0 and cam.max() == pytest.approx(1.0)
        r, c = np.unravel_index(cam.argmax(), cam.shape)
        top, left = corners[i]
        inside += top <= r < top + SQUARE and left <= c < left + SQUARE
    assert inside == len(with_square)


def test_gradient_ascent_increases_the_filters_mean_activation(fashion):
    from cnnlab.inspect.layer_paths import find_layers
    from cnnlab.inspect.probes import Probe, filter_patterns

    model = fashion[0].model
    channels = [0, 5, 17, 31]
    patterns, before, after = filter_patterns(Probe(model, find_layers(model, "conv2d")[0]), channels, steps=15)
    assert patterns.shape == (4, 28, 28, 1) and patterns.min() >= 0 and patterns.max() <= 255
    assert (after > before).all(), (before, after)
    assert (after - before).min() > 0.05 * np.abs(before).max()  # a real rise, not round-off


def test_histogram_compares_with_the_weights_saved_before_training(fashion, bn_run):
    from cnnlab.inspect.layer_paths import find_layers
    from cnnlab.runs import load_run
    from cnnlab.inspect.draw import plot_weight_histograms
    from cnnlab.inspect.kinds.histogram import InitialWeights as _InitialWeights, weight_arrays as _weight_arrays

    loaded = fashion[0]
    ref = find_layers(loaded.model, "conv2d")[0]
    (_, kernel0), (_, bias0) = _weight_arrays(_InitialWeights(loaded).layer(ref))
    (_, kernel1), (_, bias1) = _weight_arrays(ref.layer)
    # Before training: Glorot-uniform kernel within sqrt(6 / (fan_in + fan_out)), zero bias.
    assert np.abs(kernel0).max() <= np.sqrt(6 / (9 + 9 * 32)) and not bias0.any()
    assert bias1.any() and not np.allclose(kernel0, kernel1)

    bn = load_run(str(bn_run))
    ref = find_layers(bn.model, "batch_normalization")[0]
    after, before = _weight_arrays(ref.layer), _weight_arrays(_InitialWeights(bn).layer(ref))
    assert [name for name, _ in after] == ["gamma", "beta", "moving_mean", "moving_variance"]
    assert len(panels(plot_weight_histograms(after, before, ref.path))) == 4


# ---------------------------------------------------------------- the command


def test_cli_writes_every_kind_for_conv2d_on_a_real_run(cli, fashion_run):
    result = cli("visualize", fashion_run, "--layer", "conv2d", "--index", "3")
    assert result.exit_code == 0, result.output
    folder = fashion_run / "plots" / "visualize" / "conv2d"
    kinds = ["filters", "histogram", "feature-maps", "stats", "patterns"]  # Grad-CAM: at the last conv layer
    assert str(fashion_run / "plots" / "visualize" / "conv2d_1" / "gradcam-test3.png") in result.stdout  # test #3's
    assert "Grad-CAM is drawn at the last conv layer unless --kind gradcam asks for another" in result.stdout
    for step in ("reading the test images ...", "drawing filters of conv2d ...", "drawing gradcam of conv2d_1 ..."):
        assert step in result.stdout  # a line per step (issue 24)
    for kind in kinds:
        png = folder / (f"{kind}-test3.png" if kind == "feature-maps" else f"{kind}.png")  # named by the image shown
        assert str(png) in result.stdout
        with Image.open(png) as img:
            assert img.format == "PNG" and min(img.size) > 200
    assert "(all 32 filters)" in result.stdout
    stats = json.loads((folder / "stats.json").read_text())
    assert stats["layer"] == "conv2d" and stats["images"] == 256 and len(stats["channels"]) == 32
    assert all(0 <= ch["zero_fraction"] <= 1 for ch in stats["channels"])
    # the histogram compares with the weights train saved before training
    assert "initial weights not saved" not in result.stdout


def test_cli_max_maps_says_16_of_64_and_dense_gets_histogram_only(cli, fashion_run):
    result = cli("visualize", fashion_run, "--layer", "conv2d_1", "--kind", "feature-maps,filters", "--max-maps", "16")
    assert result.exit_code == 0, result.output
    assert "(16 of 64 channels shown)" in result.stdout and "(16 of 64 filters shown)" in result.stdout
    result = cli("visualize", fashion_run, "--layer", "dense")
    assert result.exit_code == 0, result.output
    assert result.stdout.count(".png") == 1 and "dense/histogram.png" in result.stdout


def test_cli_all_layers_and_an_image_file(cli, fashion_run, tmp_path):
    Image.new("RGB", (90, 60), (200, 30, 30)).save(tmp_path / "red.jpg")  # any size and colour
    result = cli("visualize", fashion_run, "--layer", "all", "--kind", "stats", "--image", tmp_path / "red.jpg")
    assert result.exit_code == 0, result.output
    for layer in ("conv2d", "max_pooling2d", "conv2d_1", "max_pooling2d_1"):
        assert f"/{layer}/stats.png" in result.stdout
    assert "over image red.jpg" in result.stdout


def test_cli_gradcam_defaults_to_last_conv_layer(cli, fashion_run):
    result = cli("visualize", fashion_run, "--kind", "gradcam")
    assert result.exit_code == 0, result.output
    assert "/conv2d_1/gradcam.png" in result.stdout and "predicted:" in result.stdout


def test_cli_default_gradcam_of_an_early_layer_moves_to_the_last_conv_layer(cli, fashion_run):
    """Issue 24: --layer conv2d drew a flat Grad-CAM ("no positive evidence"). The default
    kinds draw it at the last conv layer and say why; asking for it by name still works."""
    result = cli("visualize", fashion_run, "--layer", "conv2d", "--kind", "filters", "--kind", "gradcam")
    assert result.exit_code == 0 and "/conv2d/gradcam.png" in result.stdout  # asked for: drawn where asked
    from cnnlab.inspect.visualize import plan_layers
    from cnnlab.runs import load_run

    model = load_run(str(fashion_run)).model
    plan = {ref.path: kinds for ref, kinds in plan_layers(model, "conv2d", ())}
    assert "gradcam" not in plan["conv2d"] and plan["conv2d_1"] == ["gradcam"]
    assert "gradcam" in plan_layers(model, "conv2d_1", ())[0][1]
    assert "Grad-CAM defaults to the last conv layer" in " ".join(cli("visualize", "--help").output.split())


def test_cli_nested_backbone_from_a_keras_file(cli, nested_model, tmp_path):
    path, _, base = nested_model
    Image.new("L", (28, 28), 90).save(tmp_path / "gray.png")
    # --max-maps 4: gradient ascent on 4 channels, not all 48 (the nested lookup is what this checks)
    result = cli("visualize", path, "--layer", "block_1_expand", "--image", tmp_path / "gray.png", "--max-maps", "4")
    assert result.exit_code == 0, result.output
    folder = path.parent / "plots" / "visualize" / base / "block_1_expand"
    for name in ("filters", "histogram", "feature-maps-photo-gray", "stats", "patterns"):  # named by the image shown
        assert (folder / f"{name}.png").is_file()
    assert not list(folder.glob("gradcam*.png")) and "/gradcam-photo-gray.png" in result.stdout  # at the last conv layer
    assert "initial weights not saved" in result.stdout  # a bare .keras file has no run directory


def test_cli_batchnorm_layer(cli, bn_run):
    result = cli("visualize", bn_run, "--layer", "BatchNormalization", "--kind", "histogram,feature-maps,gradcam")
    assert result.exit_code == 0, result.output
    assert "batch_normalization/histogram.png" in result.stdout


@pytest.mark.parametrize(
    ("args", "starts", "mentions"),
    [
        (["--layer", "conv9"], "no layer 'conv9' in model 'fashion'", "conv2d_1"),
        (["--layer", "dense", "--kind", "feature-maps"], "layer 'dense' (Dense) outputs (None, 100), not a 4-D",
         "only histogram applies to it"),
        (["--layer", "flatten"], "layer 'flatten' (Flatten) outputs (None, 3136)", "nothing to draw"),
        (["--layer", "max_pooling2d", "--kind", "filters"], "layer 'max_pooling2d' (MaxPooling2D) has no convolution",
         "kinds that apply: feature-maps, stats, gradcam, patterns"),
        (["--layer", "conv2d", "--kind", "heatmap"], "unknown --kind 'heatmap'", "choose from filters"),
        (["--layer", "conv2d", "--index", "99999"], "--index 99999 is out of range", "3000 images"),
        (["--layer", "conv2d", "--kind", "filters,histogram,stats"], "", ""),  # fine: no error
        (["--kind", "filters"], "give --layer NAME", "conv2d"),
    ],
)
def test_cli_bad_inputs_give_one_line_errors(cli, fashion_run, args, starts, mentions):
    result = cli("visualize", fashion_run, *args)
    if not starts:
        assert result.exit_code == 0, result.output
        return
    assert mentions in one_line_error(result, starts)


def test_cli_image_and_index_together_is_a_usage_error(cli, fashion_run, tmp_path):
    result = cli("visualize", fashion_run, "--layer", "conv2d", "--index", "1", "--image", tmp_path / "x.png")
    assert result.exit_code == 2 and "give either --image or --index, not both" in result.stderr


def test_cli_missing_run_and_unreadable_image(cli, fashion_run, tmp_path):
    one_line_error(cli("visualize", tmp_path / "nope", "--layer", "conv2d"), "run '")
    one_line_error(cli("visualize", "--output-dir", tmp_path, "--layer", "conv2d"), "no runs under")
    (tmp_path / "broken.png").write_text("not a picture")
    text = one_line_error(cli("visualize", fashion_run, "--layer", "conv2d", "--image", tmp_path / "broken.png"),
                          "cannot read image")  # fmt: skip
    assert "not an image file" in text


def test_help_and_headless_backend(cli):
    import matplotlib

    import cnnlab.inspect.draw  # noqa: F401  sets Agg

    result = cli("visualize", "--help")
    assert result.exit_code == 0
    assert all(k in result.output for k in ("filters", "histogram", "feature-maps", "stats", "gradcam", "patterns"))
    assert matplotlib.get_backend().lower() == "agg"


def test_unknown_layer_error_lists_only_layers_that_can_be_drawn():
    from cnnlab.config import load_config
    from cnnlab.errors import ModelError
    from cnnlab.inspect.layer_paths import find_layers
    from cnnlab.model import build_model
    from tests.conftest import CONFIGS

    model = build_model(load_config(CONFIGS / "fashion.yaml"), (28, 28, 1), 10)
    with pytest.raises(ModelError) as err:
        find_layers(model, "conv3")
    shown = str(err.value).split("layers that can be shown: ", 1)[1]
    assert "conv2d_1" in shown and "dense" in shown
    for refused in ("flatten", "dropout"):
        assert refused not in shown.split(", ")


def test_gradcam_refuses_a_model_without_conv_layers():
    from cnnlab.config import config_from_dict
    from cnnlab.errors import ModelError
    from cnnlab.inspect.layer_paths import last_map_layer
    from cnnlab.model import build_model

    cfg = config_from_dict({"model": {"layers": [{"type": "Flatten"}, {"type": "Dense", "units": 10, "activation": "softmax"}]}})
    with pytest.raises(ModelError, match="no convolutional layer, so Grad-CAM"):
        last_map_layer(build_model(cfg, (28, 28, 1), 10))


def test_history_plot_marks_the_fine_tuning_boundary_and_the_best_epoch():
    from cnnlab.inspect.curves import phase_boundaries, plot_curves

    history = {"epoch": [1, 2, 3, 4, 5], "phase": [1, 1, 1, 2, 2], "loss": [1, 0.8, 0.7, 0.6, 0.5],
               "accuracy": [0.5, 0.6, 0.7, 0.8, 0.85]}  # fmt: skip
    assert phase_boundaries(history) == [(3.5, 2)]
    fig = plot_curves([("run", history)], best_epoch=4)
    phase = [line for ax in fig.axes for line in ax.lines if list(line.get_xdata()) == [3.5, 3.5]]
    assert len(phase) == 2
    best = [line for ax in fig.axes for line in ax.lines if line.get_label() == "best epoch 4 (kept)"]
    assert len(best) == 2 and all(list(line.get_xdata()) == [4, 4] for line in best)
    assert phase_boundaries({**history, "phase": [1] * 5}) == []


def test_strip_pairs_shared_scale_and_before(fashion_run, tmp_path):
    """The teaching kinds: the strip draws maps at their true sizes (28 -> 14 -> 7), pairs
    put filter #i beside map #i, --shared-scale uses one zero-centred scale with a colour
    bar, and --before draws the untrained filters (which differ from the trained ones)."""
    import matplotlib.pyplot as plt
    from PIL import Image

    from cnnlab.inspect import draw
    from cnnlab.inspect.visualize import visualize_run
    from cnnlab.runs import load_run

    loaded = load_run(str(fashion_run))
    written = visualize_run(loaded, "max_pooling2d_1", kinds=["strip"], out_dir=tmp_path)
    assert [w.path.name for w in written] == ["strip.png"] and written[0].note == "28 -> 28 -> 14 -> 14 -> 7"
    written = visualize_run(loaded, "conv2d", kinds=["pairs", "feature-maps", "filters"], out_dir=tmp_path,
                            shared_scale=True, before=True)  # fmt: skip
    names = [w.path.name for w in written]
    assert names == ["filters.png", "filters-before.png", "feature-maps-shared.png", "pairs.png"]
    for w in written:
        assert Image.open(w.path).size[0] > 100
    before = np.asarray(Image.open(tmp_path / "conv2d" / "filters-before.png").convert("L"), float)
    after = np.asarray(Image.open(tmp_path / "conv2d" / "filters.png").convert("L"), float)
    assert before.shape != after.shape or np.abs(before - after).mean() > 1
    maps = np.random.default_rng(0).normal(size=(6, 6, 4))
    fig = draw.plot_feature_maps(maps, np.zeros((28, 28, 1), np.uint8), "x", shared=True)
    shown = draw.grid_panels(fig)
    assert len(shown) == 4 and {p.image.get_clim() for p in shown} == {(-np.abs(maps).max(), np.abs(maps).max())}
    np.testing.assert_allclose(shown[3].pixels(), maps[..., 3], rtol=1e-6)  # values, not per-map stretched
    assert any(ax.get_label() == "<colorbar>" for ax in fig.axes)
    plt.close("all")
    # opt-in kinds are not drawn by default
    default = visualize_run(loaded, "conv2d", out_dir=tmp_path / "default")
    assert not {"strip.png", "pairs.png"} & {w.path.name for w in default}


def test_shift_test_compares_a_cnn_with_a_dense_network(cli, fashion_run, tmp_path):
    from cnnlab.config import load_config
    from cnnlab.inspect.shift import shift_right
    from cnnlab.runs import RunDir
    from cnnlab.train import train
    from tests.conftest import CONFIGS

    x = np.arange(2 * 4 * 4).reshape(2, 4, 4, 1).astype(np.uint8) + 1
    moved = shift_right(x, 1)
    assert (moved[:, :, 0] == 0).all() and (moved[:, :, 1:] == x[:, :, :-1]).all()

    mlp = train(load_config(CONFIGS / "mlp.yaml", ["data.limit=3000", "train.epochs=1", "train.verbose=0",
                                                   "train.tensorboard=false", "train.mixed_precision=false"]),
                tmp_path / "out")  # fmt: skip  (float32 like fashion_run, on every CPU)
    result = cli("shift", fashion_run, mlp, "--max-shift", "4", "--output", tmp_path / "shift.png")
    assert result.exit_code == 0, result.output
    rows = {line.split()[0]: [float(v) for v in line.split()[1:]] for line in result.stdout.splitlines()[1:3]}
    assert set(rows) == {"fashion", "mlp"}
    assert rows["fashion"][0] == pytest.approx(RunDir(fashion_run).read_metrics()["test_accuracy"], abs=1e-3)
    assert rows["mlp"][0] == pytest.approx(RunDir(mlp).read_metrics()["test_accuracy"], abs=1e-3)
    assert all(r[4] < r[0] for r in rows.values())  # moving the images costs both some accuracy
    assert (tmp_path / "shift.png").stat().st_size > 1000


def test_cli_image_with_a_light_background_is_inverted_and_says_so(cli, fashion_run, tmp_path):
    """visualize --image reads a photo as predict does: a dark item on white is inverted
    (--invert auto), with the line saying why, and the figures name it '(inverted)'."""
    item = np.full((60, 40), 255, np.uint8)
    item[10:50, 8:32] = 30
    Image.fromarray(item).save(tmp_path / "shirt.png")
    result = cli("visualize", fashion_run, "--layer", "conv2d", "--kind", "stats", "--image", tmp_path / "shirt.png",
                 "--fit", "pad")  # fmt: skip
    assert result.exit_code == 0, result.output
    assert "shirt.png: its background is light (border mean 255) but the training images' is dark" in result.stdout
    assert "over image shirt.png (inverted)" in result.stdout
    kept = cli("visualize", fashion_run, "--layer", "conv2d", "--kind", "stats", "--image", tmp_path / "shirt.png",
               "--invert", "no")  # fmt: skip
    assert "predictions may be wrong; --invert auto inverts it" in kept.stdout


def test_shift_lesson_configs_build_the_four_models(cli):
    """The shift lesson's four configs: the textbook CNN (Flatten + Dense), the dense
    network, a CNN ending in global average pooling, and the textbook CNN trained on
    images shifted by at least the 6 pixels the test uses; all on the same quick data."""
    from cnnlab.config import load_config
    from cnnlab.model import build_model
    from tests.conftest import CONFIGS

    cfgs = {c: load_config(CONFIGS / f"shift-{c}.yaml") for c in ("cnn", "mlp", "gap", "aug")}
    kinds = {c: [type(layer).__name__ for layer in build_model(cfg, (28, 28, 1), 10).layers] for c, cfg in cfgs.items()}
    assert "Flatten" in kinds["cnn"] and "Conv2D" in kinds["cnn"]
    assert "Conv2D" not in kinds["mlp"]
    assert "GlobalAveragePooling2D" in kinds["gap"] and "Flatten" not in kinds["gap"]
    assert cfgs["aug"].model.layers == cfgs["cnn"].model.layers
    assert cfgs["aug"].augment.width_shift_range * 28 >= 6
    assert len({(cfg.data.limit, cfg.train.epochs) for cfg in cfgs.values()}) == 1
    help_text = " ".join(cli("shift", "--help").output.split())
    assert "holds up where a dense network" not in help_text
    for c in cfgs:
        assert f"shift-{c}" in help_text


def test_shift_says_how_much_accuracy_each_run_keeps():
    from cnnlab.inspect.shift import kept_line

    assert kept_line("cnn", [0.88, 0.6, 0.285], 6, 5) == "cnn    keeps 32 % of its accuracy at 6 px (0.880 -> 0.285)"


def test_pairs_gradcam_and_shift_figures_are_laid_out_readably():
    """Issue 24, looked at and then measured: pairs shows the input once and its colour bar
    beside the filter column only; Grad-CAM's image and heatmap panels are the same size;
    the shift plot's legend sits outside the curves; no texts overlap in any of them."""
    import matplotlib.pyplot as plt

    from cnnlab.inspect.draw import plot_filter_map_pairs, plot_grad_cam
    from cnnlab.inspect.shift import plot_shift
    from tests.conftest import overlapping_texts

    rng = np.random.default_rng(0)
    image = (rng.random((28, 28, 1)) * 255).astype(np.uint8)
    fig = plot_filter_map_pairs(rng.normal(size=(3, 3, 1, 32)), rng.random((28, 28, 32)), image, "conv2d", "test #0: Bag")
    assert overlapping_texts(fig) == []
    shown = [ax for ax in fig.axes for im in ax.get_images() if im.get_array().shape[:2] == (28, 28)
             and np.array_equal(np.asarray(im.get_array()).squeeze(), image[..., 0])]  # fmt: skip
    assert len(shown) == 1  # the input once, not beside every map
    renderer = fig.canvas.get_renderer()
    bar = next(ax for ax in fig.axes if ax.get_label() == "<colorbar>")
    filters = [ax for ax in fig.axes if ax.get_title().startswith("filter #")]
    top = max(ax.get_window_extent(renderer).y1 for ax in filters)
    bottom = min(ax.get_window_extent(renderer).y0 for ax in filters)
    box = bar.get_window_extent(renderer)
    assert bottom - 1 <= box.y0 and box.y1 <= top + 1  # spans the filter rows, not the input
    plt.close(fig)

    heatmaps = [("predicted: Shirt (0.51)", rng.random((28, 28))), ("true: T-shirt/top (0.31)", rng.random((28, 28)))]
    fig = plot_grad_cam(image, heatmaps, "conv2d_1", "test #0: T-shirt/top")
    assert overlapping_texts(fig) == []
    renderer = fig.canvas.get_renderer()
    sizes = {tuple(np.round(ax.get_window_extent(renderer).size)) for ax in fig.axes if ax.get_images()}
    assert len(sizes) == 1, sizes
    plt.close(fig)

    curves = {"cnn": [0.88, 0.86, 0.78, 0.59, 0.42], "mlp": [0.84, 0.77, 0.57, 0.34, 0.27], "gap": [0.82, 0.8, 0.76, 0.68, 0.6]}
    fig = plot_shift(curves, range(5))
    assert overlapping_texts(fig) == []
    ax = fig.axes[0]
    assert ax.get_legend().get_window_extent(fig.canvas.get_renderer()).x0 >= ax.get_window_extent().x1
    plt.close(fig)


def test_panel_grids_are_one_mosaic_whose_numbers_clear_the_title_and_each_other():
    """Issue 25: a grid of filters, maps or patterns is one image in one Axes (an Axes per
    panel cost most of a report's drawing time); its numbers keep clear of the two-line
    title however few rows there are (with 1-5 panels they used to run into it), and each
    tile shows its own panel's values."""
    import matplotlib.pyplot as plt

    from cnnlab.inspect.draw import grid_panels, plot_feature_maps, plot_filters, plot_patterns
    from tests.conftest import overlapping_texts

    rng = np.random.default_rng(0)
    image = (rng.random((28, 28, 1)) * 255).astype(np.uint8)
    for n in (1, 3, 5, 64):
        maps = rng.random((14, 14, n))
        figures = [plot_feature_maps(maps, image, "conv2d_1", "test #0: Ankle boot"),
                   plot_feature_maps(maps, image, "conv2d_1", "test #0: Ankle boot", shared=True),
                   plot_filters(rng.normal(size=(3, 3, 1, n)), "conv2d"),
                   plot_filters(rng.normal(size=(5, 5, 3, n)), "conv1"),
                   plot_patterns(rng.random((n, 28, 28, 1)) * 255, list(range(n)), 64, "conv2d")]  # fmt: skip
        for fig in figures:
            assert overlapping_texts(fig) == [], (n, fig._suptitle.get_text())
            shown = grid_panels(fig)
            assert len(shown) == n and len({id(p.image) for p in shown}) == 1
            plt.close(fig)
    patterns = rng.random((2, 28, 28, 3)) * 255
    shown = grid_panels(plot_patterns(patterns, [5, 9], 64, "conv2d"))
    assert [p.label.get_text() for p in shown] == ["#5", "#9"]
    stretched = (patterns[1] - patterns[1].min()) / np.ptp(patterns[1])
    np.testing.assert_allclose(shown[1].pixels()[..., :3], stretched, rtol=1e-5)
    assert (shown[1].pixels()[..., 3] == 1).all()  # opaque tiles; the gaps are transparent
    plt.close("all")


def test_mistakes_keep_their_test_index_in_metrics_and_under_each_tile():
    """Issue 24: misclassified.png could not be followed up. The run's mistakes file lists every
    mistake with its test index (most confidently wrong first), and each tile says 'test #N'."""
    import matplotlib.pyplot as plt

    from cnnlab.inspect.evaluate import csv_field, misclassified
    from cnnlab.plots import plot_misclassified
    from tests.conftest import overlapping_texts

    names = ["a", "b", "c"]
    y_true = np.array([0, 1, 2, 0, 1])
    probs = np.array([[0.9, 0.05, 0.05], [0.7, 0.2, 0.1], [0.1, 0.1, 0.8], [0.2, 0.2, 0.6], [0.1, 0.85, 0.05]])
    assert misclassified(y_true, probs, names) == [
        {"index": 1, "true": "b", "predicted": "a", "confidence": 0.7},
        {"index": 3, "true": "a", "predicted": "c", "confidence": 0.6},
    ]
    assert (csv_field("T-shirt/top"), csv_field("a, b")) == ("T-shirt/top", '"a, b"')
    images = np.random.default_rng(0).integers(0, 255, (5, 28, 28, 1), dtype=np.uint8)
    fig = plot_misclassified(images, y_true, probs.argmax(1), probs, names)
    from cnnlab.mosaic import grid_panels

    shown = grid_panels(fig)
    assert [p.caption.get_text() for p in shown] == ["test #1", "test #3"]
    np.testing.assert_allclose(shown[1].pixels(), (images[3, ..., 0] - images[3].min()) / np.ptp(images[3]), rtol=1e-6)
    assert shown[0].label.get_text() == "true: b\npred: a (0.70)"  # two lines: the break is not escaped
    forged = grid_panels(plot_misclassified(images, y_true, probs.argmax(1), probs, ["a\nError: x", "b", "c$"]))
    assert forged[1].label.get_text() == "true: a\\nError: x\npred: c\\$ (0.60)"  # a name's own break stays escaped
    assert overlapping_texts(fig) == []
    plt.close(fig)


def test_pictures_of_other_images_sit_beside_and_the_report_captions_what_made_them(cli, fashion_run, tmp_path):
    """Issue 24: after visualize --shared-scale --index 4, --index 11 and --image photo.jpg the
    pictures are named by what made them (none replaced), each has a sidecar, and the report
    captions each for its own image and scale."""
    import shutil
    from pathlib import Path

    from cnnlab.inspect.report import write_report
    from tests.test_report import Page

    run = Path(shutil.copytree(fashion_run, tmp_path / "run", ignore=shutil.ignore_patterns("visualize", "report.html")))
    Image.fromarray(np.full((28, 28), 90, np.uint8)).save(tmp_path / "photo.jpg")
    for args in (("--kind", "feature-maps", "--shared-scale", "--index", "4"), ("--kind", "feature-maps,gradcam", "--index", "11"),
                 ("--kind", "gradcam", "--image", tmp_path / "photo.jpg")):  # fmt: skip
        result = cli("visualize", run, "--layer", "conv2d_1", *args)
        assert result.exit_code == 0, result.output
    folder = run / "plots" / "visualize" / "conv2d_1"
    assert sorted(p.name for p in folder.glob("*.png")) == [
        "feature-maps-shared-test4.png", "feature-maps-test11.png", "gradcam-photo-photo.png", "gradcam-test11.png"]
    about = json.loads((folder / "feature-maps-shared-test4.about.json").read_text())
    assert about["kind"] == "feature-maps" and about["shared_scale"] and about["image"].startswith("test #4: ")
    captions = Page(write_report(run, visualize_budget=0).path.read_text()).captions
    shared = [c for c in captions if c.startswith("Feature maps of conv2d_1 for test #4")]
    assert len(shared) == 1 and "one colour scale centred at 0" in shared[0] and "bright means" not in shared[0]
    assert any(c.startswith("Feature maps of conv2d_1 for test #11") and "bright means" in c for c in captions)
    assert any(c.startswith("Grad-CAM at conv2d_1 for photo.jpg") for c in captions)
    assert any(c.startswith("Grad-CAM at conv2d_1 for test #11") for c in captions)
    assert not any("the test image" in c for c in captions)
