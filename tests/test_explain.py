"""cnnlab explain: every number equals what the matching Keras layer computes, the
printed arithmetic is the course's, pictures are written, bad input is one Error line."""

from __future__ import annotations

import subprocess
import sys

import numpy as np
import pytest
from PIL import Image

from cnnlab.explain import xor
from cnnlab.explain.conv import convolve, same_pads
from cnnlab.explain.lessons import conv_lesson, sizes_lesson
from cnnlab.explain.matrices import load_matrix, load_preset, parse_matrix
from cnnlab.explain.pool import pool

RNG = np.random.default_rng(0)


def _keras():
    from cnnlab.backend import keras

    return keras()


def keras_conv(x, kernel, stride, padding, bias):
    """One Conv2D filter with our kernel; an explicit padding N is ZeroPadding2D(N) first."""
    k = _keras()
    layers = [k.Input(x.shape)]
    if isinstance(padding, int):
        layers.append(k.layers.ZeroPadding2D(padding))
        padding = "valid"
    conv = k.layers.Conv2D(1, kernel.shape[:2], strides=stride, padding=padding)
    model = k.Sequential(layers + [conv])
    conv.set_weights([kernel[..., None].astype("float32"), np.array([bias], "float32")])
    return np.asarray(model(x[None].astype("float32")))[0, ..., 0]


CONV_CASES = [  # (input shape, kernel shape, stride, padding, bias)
    ((7, 5, 1), (3, 3, 1), 1, "valid", 0.0),
    ((7, 5, 1), (3, 3, 1), 2, "valid", 0.5),
    ((6, 7, 1), (3, 3, 1), 1, "same", 0.0),
    ((6, 6, 1), (3, 3, 1), 2, "same", -1.0),  # asymmetric: 0 rows on top, 1 at the bottom
    ((5, 4, 1), (2, 2, 1), 1, "same", 0.0),  # even kernel: the extra zero goes bottom/right
    ((4, 5, 1), (3, 2, 1), 1, 1, 0.0),
    ((4, 4, 1), (3, 3, 1), 2, 2, 0.25),
    ((5, 5, 3), (3, 3, 3), 1, "valid", 0.0),  # multi-channel: per-channel sums add up
    ((5, 6, 3), (2, 3, 3), 2, "same", 1.5),
    ((4, 4, 2), (3, 3, 2), 1, 1, -0.5),
]


@pytest.mark.parametrize("xshape, kshape, stride, padding, bias", CONV_CASES)
def test_conv_equals_keras_conv2d(xshape, kshape, stride, padding, bias):
    x, kernel = RNG.normal(size=xshape), RNG.normal(size=kshape)
    result = convolve(x, kernel, stride, padding, bias)
    expected = keras_conv(x, kernel, stride, padding, bias)
    assert result.out.shape == expected.shape
    np.testing.assert_allclose(result.out, expected, atol=1e-5)
    np.testing.assert_allclose(result.channel_maps.sum(-1) + bias, result.out)


def test_same_padding_follows_keras_rule():
    assert same_pads(6, 3, 2) == (0, 1) and same_pads(7, 3, 1) == (1, 1) and same_pads(4, 2, 1) == (0, 1)
    assert same_pads(4, 1, 4) == (0, 0)


@pytest.mark.parametrize("size, stride", [(2, 2), (2, 1), (3, 2), (3, 3)])
def test_pooling_equals_keras(size, stride):
    k = _keras()
    x = RNG.normal(size=(7, 6, 2))
    r = pool(x, size, stride)
    batch = x[None].astype("float32")

    def run(layer, data=batch):
        return np.asarray(layer(data))[0]

    np.testing.assert_allclose(r.maps["max"], run(k.layers.MaxPooling2D(size, stride)), atol=1e-5)
    np.testing.assert_allclose(r.maps["average"], run(k.layers.AveragePooling2D(size, stride)), atol=1e-5)
    np.testing.assert_allclose(r.maps["min"], -run(k.layers.MaxPooling2D(size, stride), -batch), atol=1e-5)
    np.testing.assert_allclose(r.global_average, run(k.layers.GlobalAveragePooling2D()), atol=1e-5)


def test_relu_equals_keras():
    from cnnlab.explain.conv import relu

    x = RNG.normal(size=(5, 4, 2))
    np.testing.assert_allclose(relu(x), np.asarray(_keras().activations.relu(x.astype("float32"))), atol=1e-6)


@pytest.mark.parametrize("activation", list(xor.HIDDEN_NETS))
def test_xor_hand_set_network_equals_keras_and_solves_xor(activation):
    net = xor.hidden_net(activation)
    model = xor.keras_model(net)
    np.testing.assert_allclose(net.predict(xor.X), np.asarray(model(xor.X.astype("float32")))[:, 0], atol=1e-4)
    assert ((net.predict(xor.X) > 0.5) == xor.Y.astype(bool)).all()


def test_xor_hidden_activations_are_the_lectures():
    np.testing.assert_allclose(xor.hidden_net("sigmoid").hidden(xor.X).round(2), [[0, 0], [0, 1], [1, 0], [0, 0]])
    np.testing.assert_allclose(xor.hidden_net("relu").hidden(xor.X), [[0, 0], [0, 0.5], [0.5, 0], [0, 0]])


def test_no_line_separates_xor():
    attempt = xor.best_line()
    assert attempt.correct == 3 and len(attempt.wrong_rows) == 1
    np.testing.assert_allclose(xor.least_squares_line(), [0, 0, 0.5], atol=1e-9)


# ------------------------------------------------------------------ presets and parsing


def test_digit9_and_loop_preset_give_the_lecture_map():
    out = convolve(load_preset("digit9"), load_preset("loop")).out
    assert out.shape == (5, 3)
    np.testing.assert_allclose(out[0], [-1 / 9, 1, -1 / 9])
    np.testing.assert_allclose(out.round(2)[1:3], [[-0.56, 0.11, -0.33], [-0.33, 0.33, -0.33]])


def test_inline_multichannel_fractions_and_files(tmp_path):
    x = parse_matrix("1 2; 3 4 | 5,6; 7,8")
    assert x.shape == (2, 2, 2) and x[1, 0, 1] == 7
    assert parse_matrix("1/9 -1/3")[0, :, 0].tolist() == pytest.approx([1 / 9, -1 / 3])
    (tmp_path / "a.csv").write_text("1,2,3\n4,5,6\n")
    (tmp_path / "b.txt").write_text("1 2\n3 4\n\n5 6\n7 8\n")
    np.save(tmp_path / "c.npy", np.arange(6.0).reshape(2, 3))
    assert load_matrix(str(tmp_path / "a.csv")).shape == (2, 3, 1)
    np.testing.assert_array_equal(load_matrix(str(tmp_path / "b.txt")), x)  # blank line = next channel
    assert load_matrix(str(tmp_path / "c.npy"))[1, 2, 0] == 5


def test_pool_preset_is_the_lecture_example():
    r = pool(load_preset("pool4x4"), 2)
    assert r.maps["max"][..., 0].tolist() == [[8, 9], [4, 3]]
    assert r.global_average.tolist() == [3.0]


def test_usage_counts_equal_counting_every_window():
    from cnnlab.explain.conv import resolve_pads
    from cnnlab.explain.sizes import usage_counts

    for size, kernel, stride, padding in [((7, 7), (3, 3), 1, "valid"), ((8, 6), (3, 2), 2, "same"), ((5, 5), (2, 2), 3, 1)]:
        pads = resolve_pads(padding, size, kernel, stride)
        r = convolve(np.zeros(size + (1,)), np.zeros(kernel + (1,)), stride, padding)
        brute = np.zeros(r.padded.shape[:2], int)
        for i in range(r.out.shape[0]):
            for j in range(r.out.shape[1]):
                brute[r.window(i, j)] += 1
        np.testing.assert_array_equal(usage_counts(size, kernel, stride, pads), brute)


def test_usage_counts_show_why_padding_exists():
    lesson = sizes_lesson("7x7", "3")
    assert "padding valid -> 5x5x1 output (1 map, one per filter): the top-left corner pixel is read by 1 window(s), the busiest pixel by 9" \
        in lesson.text
    assert "compare padding same -> 7x7x1 output (1 map, one per filter): the top-left corner pixel is read by 4 window(s)" in lesson.text


# ------------------------------------------------------------------ the command line


def test_conv_prints_rule_cells_and_map(cli, tmp_path):
    png = tmp_path / "conv.png"
    result = cli("explain", "conv", "--input", "digit9", "--filter", "loop", "--relu", "--output", png)
    assert result.exit_code == 0, result.output
    out = result.stdout
    assert "height: OH = (H + 2P - FH)/S + 1 = (7 + 2*0 - 3)/1 + 1 = 4 + 1 = 5" in out
    assert "width: OW = (W + 2P - FW)/S + 1 = (5 + 2*0 - 3)/1 + 1 = 2 + 1 = 3" in out
    assert "  1/9 * ((-1)*1 + 1*1 + 1*1 + (-1)*1 + 1*(-1) + (-1)*1 + (-1)*1 + 1*1 + 1*1) = 1/9 * (-1) = -0.11" in out
    assert "  1/9 * (1*1 + 1*1 + 1*1 + 1*1 + (-1)*(-1) + 1*1 + 1*1 + 1*1 + 1*1) = 1/9 * 9 = 1" in out
    lines = out.splitlines()
    first_row = lines[lines.index("output map (5x3) before ReLU:") + 1].split()
    assert first_row == ["-0.11", "1", "-0.11"]
    assert "12 of 15 value(s) were negative and became 0" in out
    assert f"picture: {png}" in out
    assert_png(png)


@pytest.mark.parametrize("args, lines", [
    (["--input", "8x8", "--kernel", "3", "--stride", "2"],
     ["height: OH = (H + 2P - FH)/S + 1 = (8 + 2*0 - 3)/2 + 1 = floor(5/2) + 1 = 2 + 1 = 3",
      "5/2 is not whole: the window stops early, the last 1 row(s) of the padded input are never read"]),
    (["--input", "6x6", "--kernel", "3", "--stride", "2", "--padding", "same"],
     ["height: OH = (H + P_before + P_after - FH)/S + 1 = (6 + 0 + 1 - 3)/2 + 1 = 2 + 1 = 3"]),
    (["--input", "28x28x1", "--kernel", "3", "--padding", "1", "--filters", "32"],
     ["height: OH = (H + 2P - FH)/S + 1 = (28 + 2*1 - 3)/1 + 1 = 27 + 1 = 28",
      "= 3*3*1*32 + 32 = 320", "28*28*1*32 + 32 = 25,120 parameters"]),
    (["--input", "1920x1080x3", "--kernel", "3", "--padding", "same"],  # a photo: one dense unit needs 6.2M weights
     ["= 3*3*3*1 + 1 = 28", "1920*1080*3*1 + 1 = 6,220,801 parameters",
      "padding same -> 1920x1080x1 output (1 map, one per filter): the top-left corner pixel is read by 4 window(s), the busiest pixel by 9"]),
])
def test_sizes_only_rule_numbers(cli, tmp_path, args, lines):
    result = cli("explain", "conv", *args, "--output", tmp_path / "s.png")
    assert result.exit_code == 0, result.output
    for line in lines:
        assert line in result.stdout
    assert_png(tmp_path / "s.png")


def test_multichannel_shows_channel_sums(cli, tmp_path):
    result = cli("explain", "conv", "--input", "rgb4", "--filter", "rgb3x3", "--bias", "1", "--padding", "same",
                 "--max-panels", "4", "--output", tmp_path / "m.png")
    assert result.exit_code == 0, result.output
    assert "out[0,0] = 2 + 1 + 4 + bias 1 = 8" in result.stdout
    assert "each channel's own map (they add up, with the bias, to the output):" in result.stdout
    assert_png(tmp_path / "m.png")


def test_pictures_go_to_outputs_explain_by_default(cli, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    for args in (["pool", "--input", "pool4x4"], ["relu", "--input", "-1 2; 3 -4"], ["xor", "--activation", "relu"],
                 ["conv", "--input", "7x7"]):
        result = cli("explain", *args)
        assert result.exit_code == 0, result.output
    for topic in ("pool", "relu", "xor", "sizes"):
        assert_png(tmp_path / "outputs" / "explain" / f"{topic}.png")
    assert not list((tmp_path / "outputs").rglob("*.tmp")) and not list((tmp_path / "outputs").rglob(".*"))


def test_pool_relu_xor_text(cli, tmp_path):
    out = cli("explain", "pool", "--input", "pool4x4", "--output", tmp_path / "p.png").stdout
    assert "window [0,0] = {3, 1, 8, 4} -> max 8, average 4, min 1" in out
    assert "global average pooling: the mean of each whole channel -> 1 number(s): 3" in out
    out = cli("explain", "relu", "--input", "-1 2; 3 -4", "--output", tmp_path / "r.png").stdout
    assert "2 of 4 value(s) were negative and became 0" in out and "   0  2\n   3  0" in out
    out = cli("explain", "xor", "--output", tmp_path / "x.png").stdout
    assert "gets 3 of 4 rows right and misclassifies" in out and "4 of 4 rows right" in out
    assert "   0   1 |     0     1 |     1      1       1" in out


def test_scale_stays_outside_the_written_sums(cli, tmp_path):
    result = cli("explain", "conv", "--input", "1 2; 3 4", "--filter", "1 1; 1 1", "--scale", "1/4",
                 "--output", tmp_path / "c.png")
    assert "  1/4 * (1*1 + 2*1 + 3*1 + 4*1) = 1/4 * 10 = 2.5" in result.stdout


def test_many_cells_are_capped(cli, tmp_path):
    result = cli("explain", "conv", "--input", "ramp5", "--filter", "1 0; 0 -1", "--max-panels", "3",
                 "--output", tmp_path / "c.png")
    assert result.exit_code == 0 and "(2 of 16 cells written out; the picture shows more)" in result.stdout
    assert_png(tmp_path / "c.png")


BAD = [
    (["conv", "--input", "1 2; 3", "--filter", "1"],
     "Error: --input: rows have different lengths (2, 1 values); give every row the same number of values"),
    (["conv", "--input", "1 x; 3 4", "--filter", "1"],
     "Error: --input row 1: 'x' is not a number; write numbers like 3, -0.5 or 1/9"),
    (["conv", "--input", " ; ", "--filter", "1"],
     "Error: --input has no numbers; write rows separated by ';' and values by spaces, e.g. \"1 2; 3 4\""),
    (["relu", "--input", ""],
     ("Error: --input is empty; give a matrix like \"1 2; 3 4\", a .csv/.txt file or a preset (digit9, loop, "
     "pool4x4, vertical, horizontal, step, ramp5, rgb4, rgb3x3)")),
    (["conv", "--input", "1 2; 3 4", "--filter", "ramp5"],
     "Error: the 5x5 filter is larger than the 2x2 padded input; use a smaller filter, a bigger input or more --padding"),
    (["conv", "--input", "digit9", "--filter", "loop", "--stride", "0"],
     "Error: --stride 0: the window must move at least 1 pixel; use --stride 1 or more"),
    (["conv", "--input", "rgb4", "--filter", "loop"],
     ("Error: the input has 3 channel(s) but the filter has 1; give the filter 3 slices separated by '|' "
     "(one per input channel)")),
    (["conv", "--input", "digit8", "--filter", "loop"],
     ("Error: --input: 'digit8' is not a preset, a file or a matrix; did you mean 'digit9'? presets: digit9, loop, "
     "pool4x4, vertical, horizontal, step, ramp5, rgb4, rgb3x3 (cnnlab explain presets)")),
    (["conv", "--input", "digit9", "--filter", "loop", "--padding", "full"],
     ("Error: --padding 'full' is not understood; use valid (no padding), same (output = ceil(input/stride)) or "
     "a number N of zero rings")),
    (["conv", "--input", "digit9"],
     "Error: explain conv needs --filter with a matrix input; e.g. --filter loop or --filter \"1 0 -1; 1 0 -1; 1 0 -1\""),
    (["conv", "--input", "missing.csv", "--filter", "loop"], None),
    (["conv", "--input", "1 2 | 3", "--filter", "1"],
     "Error: --input: channels have different sizes (1x2, 1x1); give every channel between '|' the same rows and columns"),
    (["pool", "--input", "1 2; 3 4", "--size", "3"],
     "Error: the 3x3 pooling window is larger than the 2x2 input; use a smaller --size or a bigger input"),
    (["conv", "--input", "5x5", "--kernel", "7"],
     "Error: the 7x7 filter is larger than the 5x5 padded input; use a smaller filter, a bigger input or more --padding"),
    (["conv", "--input", "99999x99999", "--kernel", "3"],
     ("Error: --input 99999x99999: 9,999,800,001 pixels is more than this lesson counts (25,000,000); "
     "use a size up to about 5000x5000")),
    (["conv", "--input", "1 nan; 3 4", "--filter", "1"],
     "Error: --input row 1: 'nan' is not a number; write numbers like 3, -0.5 or 1/9"),
    (["pool", "--input", "4x4"],
     ("Error: --input 4x4 is a size, but this needs the numbers; give a matrix like \"1 2; 3 4\" "
     "(sizes alone work with explain conv --kernel)")),
    (["conv", "--input", "7x7", "--filter", "loop", "--relu"],
     ("Error: --input 7x7 is a size, not numbers, so --filter, --relu has nothing to work on; give the input's "
     "values (e.g. --input \"1 2 3; 4 5 6; 7 8 9\"), or leave it out for sizes only")),
    (["conv", "--input", "digit9", "--filter", "loop", "--kernel", "3"],
     ("Error: --kernel goes with a size like --input 7x7; with a matrix input the --filter's own size is used and "
     "one filter makes one map, so leave it out")),
    (["conv", "--input", "1 2; 3 4", "--filter", "1", "--scale", "1/0"],
     "Error: --scale: '1/0' is not a number; write numbers like 3, -0.5 or 1/9"),
]


@pytest.mark.parametrize("args, line", BAD)
def test_bad_input_is_one_error_line(cli, tmp_path, monkeypatch, args, line):
    monkeypatch.chdir(tmp_path)
    result = cli("explain", *args)
    assert result.exit_code == 2
    if line is None:
        line = f"Error: --input: file missing.csv does not exist; check the path (relative to {tmp_path})"
    assert result.stderr.strip() == line
    assert not (tmp_path / "outputs").exists()  # nothing written


@pytest.mark.parametrize("command", ["", "conv", "pool", "relu", "xor", "presets"])
def test_help(cli, command):
    args = ["explain", command] if command else ["explain"]
    result = cli(*args, "--help")
    assert result.exit_code == 0 and f"Usage: cli {' '.join(args)}" in result.output


def test_presets_listed(cli):
    out = cli("explain", "presets").stdout
    assert out.splitlines()[0].startswith("digit9      7x5") and "rgb4        4x4x3" in out


def test_explain_conv_pool_relu_never_start_tensorflow(tmp_path):
    code = (
        "import sys\nfrom click.testing import CliRunner\nfrom cnnlab.cli import cli\n"
        f"out = {str(tmp_path)!r}\n"
        "for args in (['explain', '--help'], ['explain', 'conv', '--input', 'digit9', '--filter', 'loop', '--max-panels', '2', '--output', out + '/a.png'],\n"
        "             ['explain', 'pool', '--input', 'pool4x4', '--output', out + '/b.png']):\n"
        "    assert CliRunner().invoke(cli, args).exit_code == 0, args\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    subprocess.run([sys.executable, "-c", code], check=True)


def test_conv_lesson_is_usable_without_the_cli():
    lesson = conv_lesson("1 2 3; 4 5 6; 7 8 9", "1 0; 0 -1", padding="same", stride=2)
    assert lesson.topic == "conv" and "(3 + 0 + 1 - 2)/2 + 1 = 1 + 1 = 2" in lesson.text
    assert lesson.figure.axes and all(ax.get_title() for ax in lesson.figure.axes if ax.get_visible()
                                      and ax.axison and ax.get_label() != "<colorbar>")


def assert_png(path):
    with Image.open(path) as img:
        pixels = np.asarray(img.convert("L"))
    assert pixels.shape[0] > 200 and pixels.shape[1] > 200 and pixels.std() > 10


@pytest.mark.slow
def test_xor_trained_with_keras_solves_it(cli, tmp_path):
    result = cli("explain", "xor", "--train", "--seed", "0", "--output", tmp_path / "x.png")
    assert result.exit_code == 0, result.output
    assert "the same shape trained by Keras (Adam 0.1, 300 full-batch steps, seed 0): 4 of 4 rows right" in result.stdout
    assert_png(tmp_path / "x.png")


@pytest.mark.parametrize("lesson", ["conv", "conv --relu", "xor sigmoid", "xor relu", "pool", "relu", "sizes"])
def test_no_text_of_a_lesson_figure_overlaps_another(lesson):
    """Issue 24: the products of explain conv digit9/loop ran together ("0.110.110.11"), the
    --relu figure's title collided with the first panel's, and xor.png printed the labels
    of (0,0) and (1,1) over each other where the hidden layer maps both to one point.
    Every title, label and number is measured with matplotlib's renderer."""
    import matplotlib.pyplot as plt

    from cnnlab.explain.lessons import pool_lesson, relu_lesson, xor_lesson
    from tests.conftest import overlapping_texts

    figure = {
        "conv": lambda: conv_lesson("digit9", "loop").figure,
        "conv --relu": lambda: conv_lesson("digit9", "loop", relu=True).figure,
        "xor sigmoid": lambda: xor_lesson("sigmoid").figure,
        "xor relu": lambda: xor_lesson("relu").figure,
        "pool": lambda: pool_lesson("pool4x4").figure,
        "relu": lambda: relu_lesson("digit9").figure,
        "sizes": lambda: sizes_lesson("7x7").figure,
    }[lesson]()
    assert overlapping_texts(figure) == []
    plt.close(figure)


def test_pool_on_5x3_says_the_floor_drops_the_last_row_and_column(cli, tmp_path):
    """Issue 24: pooling 5x3 with 2x2 windows, stride 2, gives 2x1 and silently ignored
    row 4 and column 2; the lesson now writes the floor and names what it drops."""
    out = cli("explain", "pool", "--input", "1 2 3; 4 5 6; 7 8 9; 1 2 3; 4 5 6", "--output", tmp_path / "p.png").stdout
    assert ("output size: floor((H - size)/stride) + 1 = floor((5 - 2)/2) + 1 = 2 rows, "
            "floor((3 - 2)/2) + 1 = 1 column") in out  # fmt: skip
    assert "the floor drops the last row (row 4, counting from 0)" in out
    assert "the floor drops the last column (column 2, counting from 0)" in out
    exact = cli("explain", "pool", "--input", "pool4x4", "--output", tmp_path / "q.png").stdout
    assert "floor drops" not in exact  # 4x4 in 2x2 windows: nothing left over
    from cnnlab.explain.text import dropped_text

    assert dropped_text(7, 7, 2, 2, 3, 2) == ["  the floor drops the last 2 rows (rows 5-6, counting from 0): no whole "
                                              "window fits there, and pooling adds no padding",
                                              "  the floor drops the last 2 columns (columns 5-6, counting from 0): no "
                                              "whole window fits there, and pooling adds no padding"]  # fmt: skip


def test_sizes_lesson_names_the_output_depth_and_digit9_says_what_it_is(cli, tmp_path):
    out = cli("explain", "conv", "--input", "50x50x3", "--filters", "10", "--output", tmp_path / "s.png").stdout
    assert "padding valid -> 48x48x10 output (10 maps, one per filter)" in out
    assert "compare padding same -> 50x50x10 output" in out
    presets = cli("explain", "presets").stdout
    assert "lecture 004" not in presets
    assert "7x5 handwritten digit 9, +1 ink / -1 background: a loop on top" in presets
