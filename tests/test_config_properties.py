"""Property tests: whatever YAML a user writes and whatever --set overrides they give,
load_config raises nothing but ConfigError, its message is one line, and it names a
key path ("config" for the document as a whole, or --set KEY for an override)."""

from __future__ import annotations

import re
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pydantic import BaseModel

from cnnlab.config import Config, load_config
from cnnlab.config.messages import _model_in
from cnnlab.errors import ConfigError
from tests.conftest import CONFIGS

SETTINGS = settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])


def schema_paths(model: type[BaseModel] = Config, prefix: str = "") -> list[str]:
    """Every dotted key path of the schema, read from the models (so new sections count)."""
    out = []
    for name, field in model.model_fields.items():
        path = f"{prefix}{name}"
        out.append(path)
        sub = _model_in(field.annotation)
        if sub is not None:
            out += schema_paths(sub, path + ".")
    return out


PATHS = schema_paths()
KEYS = sorted({p.rsplit(".", 1)[-1] for p in PATHS})
LAYER_TYPES = ["Conv2D", "MaxPooling2D", "Dense", "Dropout", "Flatten", "MinPooling2D", "Input", "Lambda", "Nope"]

scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.sampled_from(["auto", "adam", "val_loss", "fine_tune", "resnet50", "none", "relu", "same"]),
)
keys = st.one_of(st.sampled_from(KEYS), st.text(max_size=8), st.integers(-3, 3), st.booleans(), st.none())
values = st.recursive(
    scalars,
    lambda children: st.lists(children, max_size=4) | st.dictionaries(keys, children, max_size=4),
    max_leaves=16,
)
layer_specs = st.lists(
    st.fixed_dictionaries(
        {"type": st.one_of(st.sampled_from(LAYER_TYPES), values)},
        optional={
            "filters": values, "kernel_size": values, "units": values, "rate": values,
            "activation": values, "padding": values, "pool_size": values, "bogus": values,
        },
    ),  # fmt: skip
    max_size=4,
)


@st.composite
def mutated_textbook_config(draw):
    """The real fashion.yaml with a few keys changed to random values: documents that
    get past the first checks and reach the later, cross-field and layer ones."""
    raw = yaml.safe_load((CONFIGS / "fashion.yaml").read_text())
    for _ in range(draw(st.integers(1, 4))):
        path = draw(st.sampled_from(PATHS)).split(".")
        node = raw
        for part in path[:-1]:
            if not isinstance(node.get(part), dict):
                node[part] = {}
            node = node[part]
        node[path[-1]] = draw(layer_specs if path[-1] in ("layers", "head") else values)
    return raw


yaml_text = st.text(alphabet=st.sampled_from(list(":-[]{},#&*!|>'\"%@`?~ \n\t\\abyz019._=")), max_size=80)
documents = st.one_of(
    st.dictionaries(keys, values, max_size=6),
    values,
    mutated_textbook_config(),
)
override_keys = st.one_of(
    st.sampled_from(PATHS),
    st.builds(lambda p, i, k: f"{p}.{i}.{k}", st.sampled_from(["model.layers", "model.head"]), st.integers(-2, 9),
              st.sampled_from(["filters", "units", "type", "x"])),  # fmt: skip
    st.text(alphabet=st.sampled_from(list("ab.0_ -=")), max_size=12),
)
override_values = st.one_of(yaml_text, st.builds(lambda v: yaml.safe_dump(v, default_flow_style=True).strip(), values))
overrides = st.lists(
    st.one_of(st.builds(lambda k, v: f"{k}={v}", override_keys, override_values), st.text(max_size=12)),
    max_size=3,
)

# After "<source>: " comes the key path, e.g. train.optimizer.name or model.layers[2].units;
# keys that are not plain words are quoted: ' '.data
KEY_PATH = re.compile(r"""(config|[\w-]+|'[^']*'|"[^"]*")(\.([\w-]+|'[^']*'|"[^"]*")|\[-?\d+\])*: \S""")


def check_message(message: str, source: str, override_items=()) -> None:
    assert "\n" not in message, message
    assert "cannot be read (" not in message, f"an unexpected exception was wrapped: {message}"
    if message.startswith("--set "):
        from cnnlab.config import _bounded, _shown  # long items are shortened to 80 characters

        assert any(message.startswith((f"--set {_shown(item)}:", f"--set {_bounded(item)!r}:")) for item in override_items), message
        return
    assert message.startswith(f"{source}: "), message
    assert KEY_PATH.match(message[len(source) + 2 :]), f"no key path in: {message}"


@pytest.fixture(scope="module")
def config_file(tmp_path_factory) -> Path:
    return tmp_path_factory.mktemp("properties") / "config.yaml"


def load_expecting_config_error(path: Path, items=()) -> None:
    try:
        load_config(path, items)
    except ConfigError as exc:
        check_message(str(exc), str(path), override_items=items)


@SETTINGS
@given(text=st.one_of(yaml_text, st.text(max_size=200)))
def test_random_yaml_text_raises_only_config_error(config_file, text):
    config_file.write_text(text, encoding="utf-8")
    load_expecting_config_error(config_file)


@SETTINGS
@given(data=st.binary(max_size=64))
def test_random_bytes_raise_only_config_error(config_file, data):
    config_file.write_bytes(data)
    load_expecting_config_error(config_file)


@SETTINGS
@given(document=documents)
def test_random_documents_raise_only_config_error(config_file, document):
    config_file.write_text(yaml.safe_dump(document, allow_unicode=True), encoding="utf-8")
    load_expecting_config_error(config_file)


@SETTINGS
@given(document=st.one_of(mutated_textbook_config(), st.just(None)), items=overrides)
def test_random_overrides_raise_only_config_error(config_file, document, items):
    base = document if document is not None else yaml.safe_load((CONFIGS / "fashion.yaml").read_text())
    config_file.write_text(yaml.safe_dump(base), encoding="utf-8")
    load_expecting_config_error(config_file, items)


def test_unsafe_yaml_tags_are_refused_not_run(tmp_path):
    """YAML goes through the safe loader only: a python/object tag is an error, never code."""
    path = tmp_path / "evil.yaml"
    path.write_text("name: !!python/object/apply:os.system ['echo pwned > /tmp/cnnlab-pwned']\n")
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: config: malformed YAML at line 1")
    assert not Path("/tmp/cnnlab-pwned").exists()


def test_messages_name_the_key_path_the_user_wrote(tmp_path):
    """Not only some path: the one that is wrong (a fixed sample of the property)."""
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"train": {"optimizer": {"name": "adamm"}}}))
    with pytest.raises(ConfigError) as info:
        load_config(path)
    assert str(info.value).startswith(f"{path}: train.optimizer.name: 'adamm' is not allowed (did you mean 'adam'?)")
    with pytest.raises(ConfigError) as info:
        load_config(CONFIGS / "fashion.yaml", ["model.layers.9.units=3"])
    assert str(info.value).startswith("--set 'model.layers.9.units=3': model.layers.9 needs a list index")
