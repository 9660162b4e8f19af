"""``base: other.yaml``: a config that starts from another and changes what differs.

    # configs/fashion-small.yaml
    base: fashion.yaml          # relative to this file; the base may have a base too
    name: fashion-small
    data: {limit: 5000}         # mappings merge key by key, at every depth
    model:
      layers: [...]             # lists are replaced as a whole, never merged item by item

A chain is read base first, each file merged over the one it names. A cycle is refused
with the chain named; so is a base file that does not exist. The result is one plain
mapping, so the run's saved config.yaml is the fully resolved config, with no base.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import yaml

from cnnlab.config import bounded_yaml
from cnnlab.errors import ConfigError


def read_yaml(path: Path) -> Any:
    """One YAML file, with its errors as one-line ConfigErrors naming the file."""
    try:
        return bounded_yaml.safe_load(path.read_text(encoding="utf-8"))
    except bounded_yaml.AliasBomb as exc:
        raise ConfigError(f"{path}: config: {exc} (an alias bomb?); write the values out without nested aliases") from None
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: config: malformed YAML{where}: {problem}; fix the syntax") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config: is not UTF-8 text; save the file as UTF-8 YAML") from None


def _shown(path: Path) -> str:
    """A path as short as it can be said: relative to the current folder when under it."""
    try:
        return str(path.relative_to(Path.cwd()))
    except ValueError:
        return str(path)


def deep_merge(base: dict, override: dict) -> dict:
    """``override`` over ``base``: mappings merge recursively; lists and scalars replace."""
    out = dict(base)
    for key, value in override.items():
        if isinstance(value, dict) and isinstance(out.get(key), dict):
            out[key] = deep_merge(out[key], value)
        else:
            out[key] = value
    return out


def resolve_bases(path: Path, chain: tuple[Path, ...] = ()) -> Any:
    """The file's mapping with its ``base:`` chain merged in (base first)."""
    path = Path(path)
    here = path.resolve()
    if here in chain:
        names = " -> ".join(_shown(p) for p in (*chain, here))
        raise ConfigError(f"{_shown(chain[0])}: base: the chain of bases is a cycle ({names}); remove one base: line")
    raw = read_yaml(path)
    if not isinstance(raw, dict) or "base" not in raw:
        return raw
    base = raw.pop("base")
    if not isinstance(base, str) or not base.strip():
        raise ConfigError(f"{path}: base: expected the path of another YAML config (relative to this file), got {base!r}")
    base_path = path.parent / base
    if not base_path.is_file():
        raise ConfigError(
            f"{path}: base: {base!r} does not exist (looked for {base_path}); the path is relative to {path.name}'s folder"
        )
    parent = resolve_bases(base_path, (*chain, here))
    if not isinstance(parent, dict):
        raise ConfigError(f"{base_path}: config: a base must be a mapping of sections")
    return deep_merge(parent, raw)
