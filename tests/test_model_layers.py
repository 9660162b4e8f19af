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
