"""The experiment config: YAML loading, ``--set`` overrides, validation.

``load_config(path, overrides)`` is the one entry point; anything that goes wrong
inside it surfaces as a ``ConfigError`` and nothing else. The schema (every default)
is in ``schema``, the cross-field rules in ``checks``, the error wording in ``messages``.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from cnnlab.config import bounded_yaml
from cnnlab.config.checks import CHECKS
from cnnlab.config.inherit import resolve_bases
from cnnlab.config.layer_specs import check_layer_specs
from cnnlab.config.messages import _type_name, format_validation_error
from cnnlab.config.schema import (
    AugmentConfig,
    BackboneConfig,
    Config,
    DataConfig,
    EarlyStoppingConfig,
    FinetuneConfig,
    ModelConfig,
    OptimizerConfig,
    ReduceLRConfig,
    TrainConfig,
)
from cnnlab.errors import ConfigError

__all__ = [
    "AugmentConfig", "BackboneConfig", "Config", "DataConfig", "EarlyStoppingConfig", "FinetuneConfig",
    "ModelConfig", "OptimizerConfig", "ReduceLRConfig", "TrainConfig", "apply_override", "blame", "config_from_dict", "dump_config",
    "load_config",
]  # fmt: skip



def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config, apply ``key.path=value`` overrides, validate everything."""
    path = Path(path)
    try:
        return _load(path, overrides)
    except ConfigError:
        raise
    except Exception as exc:  # the loader's contract: only ConfigError escapes
        raise ConfigError(f"{path}: config: cannot be read ({type(exc).__name__}: {exc})") from exc


def _load(path: Path, overrides) -> Config:
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist; pass a YAML file such as configs/fashion.yaml")
    raw = resolve_bases(path)  # base: chains merged, so what is validated (and saved) is the whole config
    return config_from_dict(raw, overrides, source=str(path))


def config_from_dict(raw: Any, overrides=(), source: str = "config") -> Config:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: config: expected a mapping of sections ({', '.join(Config.model_fields)}), "
            f"got {_type_name(raw)}"
        )
    for item in overrides:
        apply_override(raw, item, source)
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        path, problem = format_validation_error(exc)
        raise ConfigError(f"{_blame(path, overrides, source)}: {path}: {problem}") from None
    for check in CHECKS:
        problem = check(cfg)
        if problem:
            raise ConfigError(f"{_blame(problem[0], overrides, source)}: {problem[0]}: {problem[1]}")
    check_layer_specs(cfg.model.layers, "model.layers", lambda where: _blame(where, overrides, source))
    check_layer_specs(cfg.model.head, "model.head", lambda where: _blame(where, overrides, source))
    cfg._source, cfg._overrides = source, tuple(overrides)
    return cfg


def blame(cfg: Config, path: str) -> str:
    """What wrote the key at ``path`` of a loaded config: its file, or the --set item.
    For checks made after loading (cnnlab.model.layer_specs)."""
    return _blame(path, cfg._overrides, cfg._source)


def _blame(path: str, overrides, source: str) -> str:
    """Name the --set option that introduced the problem, else the file."""
    dotted = re.sub(r"\[(\d+)\]", r".\1", path)
    for item in reversed(list(overrides)):
        key = item.partition("=")[0].strip()
        if dotted == key or dotted.startswith(key + ".") or key.startswith(dotted + "."):
            return f"--set {_shown(item)}"  # one line, whatever was typed
    return source


def _bounded(item: str) -> str:
    """At most 80 characters: a --set value may be megabytes."""
    return item if len(item) <= 80 else item[:77] + "..."


def _shown(item: str) -> str:
    """A --set item as typed, on one line and at most 80 characters."""
    return _bounded(item if item.isprintable() else repr(item))


def apply_override(raw: dict, item: str, source: str = "config") -> None:
    """Apply one ``a.b.c=value`` (value parsed as YAML) to the raw dict in place."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {_bounded(item)!r}: expected KEY=VALUE with a dotted key, e.g. --set train.epochs=3")
    try:
        value = bounded_yaml.safe_load(text) if text.strip() else None
    except bounded_yaml.AliasBomb as exc:
        raise ConfigError(f"--set {_shown(item)}: {exc}; give a plain value") from None
    except yaml.YAMLError:
        value = text  # an unquoted string that is not valid YAML is taken literally
    parts = key.split(".")
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        node = _child(node, part, ".".join(parts[: depth + 1]), item, create=True)
    last = parts[-1]
    if isinstance(node, list):
        index = _index(node, last, key, item)
        node[index] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"--set {_bounded(item)!r}: {'.'.join(parts[:-1])} is not a section, so it has no key {last!r}")


def _child(node, part, dotted, item, create):
    if isinstance(node, dict):
        if node.get(part) is None and create:
            node[part] = {}
        return node[part]
    if isinstance(node, list):
        return node[_index(node, part, dotted, item)]
    raise ConfigError(f"--set {_bounded(item)!r}: {dotted.rsplit('.', 1)[0]} is not a section")


def _index(node: list, part: str, dotted: str, item: str) -> int:
    if not re.fullmatch(r"-?\d+", part) or not -len(node) <= int(part) < len(node):
        raise ConfigError(f"--set {_bounded(item)!r}: {dotted} needs a list index from 0 to {len(node) - 1}")
    return int(part)


def dump_config(cfg: Config) -> str:
    """The fully resolved config as YAML; loading it back gives the same Config."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)
