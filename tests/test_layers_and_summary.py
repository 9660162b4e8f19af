"""MinPooling2D against a hand-computed example, and the textbook model's summary."""

from __future__ import annotations

import numpy as np

from cnnlab.backend import keras
from cnnlab.layers import MinPooling2D
from cnnlab.model.summary import size_arithmetic
from tests.conftest import CONFIGS

GRID = [[13, 20, 30, 0], [8, 12, 3, 0], [34, 70, 33, 5], [11, 80, 10, 23]]


def test_min_pooling_hand_computed_example():
    x = np.array(GRID, np.float32).reshape(1, 4, 4, 1)  # (N, H, W, C)
    out = MinPooling2D(pool_size=2)(x)
    np.testing.assert_array_equal(np.asarray(out)[0, :, :, 0], [[8, 0], [11, 5]])


def test_min_pooling_same_padding_ignores_the_padding():
    x = np.full((1, 3, 3, 1), 7.0, np.float32)
    out = np.asarray(MinPooling2D(pool_size=2, padding="same")(x))
    assert out.shape == (1, 2, 2, 1)
    np.testing.assert_array_equal(out, 7.0)  # padded cells never win the min


def test_min_pooling_saves_and_loads_in_safe_mode(tmp_path):
    k = keras()
    inputs = k.Input((4, 4, 1))
    model = k.Model(inputs, MinPooling2D(pool_size=2, name="min_pool")(inputs))
    model.save(tmp_path / "m.keras")
    loaded = k.models.load_model(tmp_path / "m.keras", safe_mode=True)
    x = np.array(GRID, np.float32).reshape(1, 4, 4, 1)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


def test_size_arithmetic_is_the_output_size_rule():
    assert size_arithmetic(28, 3, 1, "same") == "28 → (28 + 2·1 − 3)/1 + 1 = 28"
    assert size_arithmetic(28, 2, 2, "valid") == "28 → (28 + 2·0 − 2)/2 + 1 = 14"
    assert size_arithmetic(7, 2, 2, "valid") == "7 → ⌊(7 + 2·0 − 2)/2⌋ + 1 = 3"
    assert size_arithmetic(28, 5, 1, "valid") == "28 → (28 + 2·0 − 5)/1 + 1 = 24"


def test_summary_of_the_textbook_model(cli):
    result = cli("summary", "configs/fashion.yaml")
    assert result.exit_code == 0, result.output
    text = result.stdout
    for expected in ("(None, 28, 28, 32)", "(None, 14, 14, 32)", "(None, 14, 14, 64)", "(None, 7, 7, 64)",
                     "(None, 3136)", "(None, 100)", "(None, 10)"):  # fmt: skip
        assert expected in text
    assert "Total params: 333,526" in text
    assert "params 3·3·1·32 + 32 = 320" in text
    assert "size 28 → (28 + 2·1 − 3)/1 + 1 = 28" in text


def test_summary_columns_stay_aligned_with_long_layer_names():
    from cnnlab.config import load_config
    from cnnlab.model import build_model
    from cnnlab.model.summary import describe_model
    from tests.conftest import CONFIGS

    long = "a_really_long_convolution_layer_name_here"
    cfg = load_config(CONFIGS / "fashion.yaml", [f"model.layers.0.name={long}"])
    lines = describe_model(build_model(cfg, (28, 28, 1), 10)).splitlines()
    header, rows = lines[1], [line for line in lines[3:-2]]
    column = header.index("type")
    assert all(row[column - 1] == " " and row[column] != " " for row in rows), "type column shifted"
    assert any(row.startswith(long + " ") for row in rows)


def test_summary_for_any_input_size_builds_nothing(cli):
    """1920x1080x3 through the textbook layers: 829 million weights would need 3.3 GB to
    build; the shape-only table answers at once, and its counts match a built model's."""
    result = cli("summary", "--input", "1920x1080x3")
    assert result.exit_code == 0, result.output
    assert "(None, 480, 270, 64)" in result.output and "params 8294400·100 + 100 = 829,440,100" in result.output
    assert "Total params: 829,460,502" in result.output
    small = cli("summary", "--input", "28x28x1", str(CONFIGS / "mlp.yaml")).output
    assert "Total params: 235,146" in small  # 784·256+256 + 256·128+128 + 128·10+10
    from cnnlab.config import load_config
    from cnnlab.model import build_model

    for config in ("fashion.yaml", "mlp.yaml", "fashion-best.yaml"):
        built = build_model(load_config(CONFIGS / config), (28, 28, 1), 10).count_params()
        assert f"Total params: {built:,}" in cli("summary", "--input", "28x28x1", str(CONFIGS / config)).output, config
    bad = cli("summary", "--input", "28by28")
    assert bad.exit_code == 2 and bad.stderr.strip() == (
        "Error: --input '28by28': expected HxWxC, e.g. 28x28x1 or 1080x1920x3 (positive sizes)"
    )


def test_mlp_comment_states_the_parameter_counts_it_builds():
    """configs/mlp.yaml said the dense network "has more parameters" than the CNN; it has
    fewer (235,146 against 333,526). Its comment must say what the built models count."""
    from cnnlab.config import load_config
    from cnnlab.model import build_model
    from tests.conftest import CONFIGS

    counts = {name: build_model(load_config(CONFIGS / f"{name}.yaml"), (28, 28, 1), 10).count_params()
              for name in ("mlp", "fashion")}  # fmt: skip
    header = "".join(line for line in (CONFIGS / "mlp.yaml").read_text().splitlines(True) if line.startswith("#"))
    assert f"{counts['mlp']:,} against {counts['fashion']:,}" in header
    assert ("fewer parameters" in header) == (counts["mlp"] < counts["fashion"])
    assert "more parameters" not in header
