"""Config schema: defaults, overrides, and one-line errors naming the dotted path."""

from __future__ import annotations

import pytest
import yaml

from cnnlab.config import Config, dump_config, load_config
from cnnlab.errors import ConfigError
from tests.conftest import CONFIGS, write_config


def load_error(path, overrides=()) -> str:
    with pytest.raises(ConfigError) as info:
        load_config(path, overrides)
    message = str(info.value)
    assert "\n" not in message
    return message


def test_textbook_config_loads_with_schema_defaults():
    cfg = load_config(CONFIGS / "fashion.yaml")
    assert cfg.name == "fashion"
    assert cfg.data.validation_split == 0.2
    assert cfg.data.batch_size == 32
    assert cfg.train.early_stopping.patience == 2
    assert [layer["type"] for layer in cfg.model.layers] == [
        "Conv2D", "MaxPooling2D", "Conv2D", "MaxPooling2D", "Flatten", "Dense", "Dropout", "Dense",
    ]  # fmt: skip


def test_overrides_are_parsed_as_yaml_and_validated():
    cfg = load_config(CONFIGS / "fashion.yaml", ["train.epochs=3", "data.batch_size=64", "model.layers.0.filters=8"])
    assert cfg.train.epochs == 3 and cfg.data.batch_size == 64
    assert cfg.model.layers[0]["filters"] == 8
    assert "train.epochs: input should be greater than or equal to 1, got 0" in load_error(
        CONFIGS / "fashion.yaml", ["train.epochs=0"]
    )


def test_resolved_config_round_trips(tmp_path):
    cfg = load_config(CONFIGS / "fashion.yaml", ["train.epochs=3"])
    path = tmp_path / "config.yaml"
    path.write_text(dump_config(cfg))
    assert load_config(path) == cfg


def test_unknown_key_names_path_and_suggests(tmp_path):
    path = write_config(tmp_path / "c.yaml", data={"path": "x.npz", "batch_sise": 8})
    message = load_error(path)
    assert "data.batch_sise: unknown key (did you mean 'batch_size'?)" in message
    assert "allowed keys here: source, path" in message


def test_wrong_type_names_path_and_value(tmp_path):
    path = write_config(tmp_path / "c.yaml", data={"path": "x.npz", "batch_size": "many"})
    assert "data.batch_size: input should be a valid integer" in load_error(path)
    assert "got 'many'" in load_error(path)


def test_bad_choice_lists_the_choices(tmp_path):
    path = write_config(tmp_path / "c.yaml", data={"source": "fashion-mnist"})
    message = load_error(path)
    assert "data.source: 'fashion-mnist' is not allowed (did you mean 'fashion_mnist'?)" in message
    assert "choose one of: fashion_mnist, mnist, npz, directory" in message


def test_malformed_yaml_names_the_line(tmp_path):
    path = tmp_path / "bad.yaml"
    path.write_text("name: x\ndata: {source: npz\n")
    assert "malformed YAML at line" in load_error(path)


def test_top_level_must_be_a_mapping(tmp_path):
    path = tmp_path / "list.yaml"
    path.write_text("- 1\n- 2\n")
    assert "config: expected a mapping of sections" in load_error(path)


def test_missing_file():
    assert "does not exist" in load_error("no/such/config.yaml")


def test_cross_field_rules(tmp_path):
    assert "data.path: is required when data.source is 'npz'" in load_error(write_config(tmp_path / "a.yaml"))
    path = write_config(tmp_path / "b.yaml", data={"path": "x.npz", "validation_split": 0})
    assert "train.monitor: is 'val_loss' but data.validation_split is 0" in load_error(path)


def test_layer_values_are_checked_without_keras(tmp_path):
    layers = [{"type": "Dense", "units": -3}]
    message = load_error(write_config(tmp_path / "c.yaml", data={"path": "x"}, model={"layers": layers}))
    assert message == (f"{tmp_path / 'c.yaml'}: model.layers[0]: invalid Dense arguments: units must be a positive "
                       "integer (the number of neurons), got -3")  # fmt: skip
    layers = [{"type": "Conv2D", "filters": 8, "kernel_size": 3, "padding": "full"}]
    message = load_error(write_config(tmp_path / "d.yaml", data={"path": "x"}, model={"layers": layers}))
    assert "model.layers[0]: invalid Conv2D arguments: padding must be 'valid'" in message
    assert "got 'full'" in message
    message = load_error(CONFIGS / "fashion.yaml", ["model.layers.6.rate=1.5"])
    assert message.startswith("--set model.layers.6.rate=1.5: model.layers[6]: invalid Dropout arguments: rate must be")


@pytest.mark.parametrize(
    "override, expected",
    [
        ("train.epochs", "expected KEY=VALUE"),
        ("train.nope=1", "train.nope: unknown key"),
        ("model.layers.9.filters=3", "model.layers.9 needs a list index from 0 to 7"),
        ("name.sub=3", "name is not a section"),
    ],
)
def test_bad_overrides(override, expected):
    assert expected in load_error(CONFIGS / "fashion.yaml", [override])


def test_defaults_live_in_the_schema():
    # An empty mapping is the schema's defaults, minus a model (which is required).
    assert Config().data.source == "fashion_mnist"
    assert Config().train.optimizer.learning_rate == 0.001
    assert yaml.safe_load(dump_config(Config()))["train"]["monitor"] == "val_loss"


def test_union_fields_report_one_problem_with_every_choice():
    # "auto" | bool fails once per member; the user sees one problem listing all choices.
    message = load_error(CONFIGS / "fashion.yaml", ["train.jit_compile=maybe"])
    assert message.endswith("train.jit_compile: 'maybe' is not allowed; choose one of: auto, true, false")
    message = load_error(CONFIGS / "fashion.yaml", ["train.verbose=5"])
    assert message.endswith("train.verbose: 5 is not allowed; choose one of: auto, 0, 1, 2")


def test_empty_model_points_at_layers_or_backbone(tmp_path):
    message = load_error(write_config(tmp_path / "c.yaml", data={"path": "x"}, model={"layers": []}))
    assert "model.layers: is empty" in message and "model.backbone" in message


def test_value_rules_apply_only_where_the_argument_means_it(tmp_path):
    """ZeroPadding2D's padding is a number of pixels; a pooling layer's strides may be null."""
    layers = [{"type": "ZeroPadding2D", "padding": 1}, {"type": "MaxPooling2D", "strides": None},
              {"type": "Conv1D", "filters": 2, "kernel_size": 3, "padding": "causal"}, {"type": "Flatten"}]  # fmt: skip
    cfg = load_config(write_config(tmp_path / "z.yaml", data={"path": "x"}, model={"layers": layers}))
    assert cfg.model.layers[0]["padding"] == 1

