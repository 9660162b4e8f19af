"""The model stage's layer checks: what needs the real Keras classes (an unknown layer
type, an argument Keras does not take or rejects) is found before any data is read, and
blames the config file or the --set item that wrote it."""

from __future__ import annotations

import pytest

from cnnlab.config import load_config
from cnnlab.errors import ConfigError
from cnnlab.model import check_model
from tests.conftest import CONFIGS, write_config


def model_error(path, overrides=()) -> str:
    cfg = load_config(path, overrides)  # the config stage lets it through: it needs Keras
    with pytest.raises(ConfigError) as info:
        check_model(cfg)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_unknown_layer_type_and_argument(tmp_path):
    layers = [{"type": "Conv2d", "filters": 4, "kernel_size": 3}]
    message = model_error(write_config(tmp_path / "a.yaml", data={"path": "x"}, model={"layers": layers}))
    assert "model.layers[0].type: unknown layer 'Conv2d' (did you mean 'Conv2D'?)" in message
    layers = [{"type": "Conv2D", "filter": 4, "kernel_size": 3}]
    message = model_error(write_config(tmp_path / "b.yaml", data={"path": "x"}, model={"layers": layers}))
    assert "model.layers[0].filter: unknown argument for Conv2D (did you mean 'filters'?)" in message
    layers = [{"type": "Dense", "units": 3, "activation": "relu6x"}]
    message = model_error(write_config(tmp_path / "c.yaml", data={"path": "x"}, model={"layers": layers}))
    assert message.startswith(f"{tmp_path / 'c.yaml'}: model.layers[0]: invalid Dense arguments")


def test_layer_errors_from_set_name_the_set_item():
    message = model_error(CONFIGS / "fashion.yaml", ["model.layers.0.filter=3"])
    assert message.startswith(
        "--set model.layers.0.filter=3: model.layers[0].filter: unknown argument for Conv2D (did you mean 'filters'?)"
    )


def test_summary_input_asks_keras_where_its_rules_cannot_tell(cli, tmp_path):
    """summary --input computes shapes without Keras for the textbook layers, but a missing
    argument or an activation typo goes to Keras's check, blaming the file as train does."""
    for layer, expected in (({"type": "Conv2D", "filters": 4}, "kernel_size"),
                            ({"type": "Dense", "units": 3, "activation": "relux"}, "invalid Dense arguments")):  # fmt: skip
        path = write_config(tmp_path / "s.yaml", data={"path": "x"}, model={"layers": [{"type": "Flatten"}, layer]})
        result = cli("summary", "--input", "28x28x1", path)
        assert result.exit_code == 2 and result.stderr.startswith(f"Error: {path}: model.layers[1]"), result.output
        assert expected in result.stderr

