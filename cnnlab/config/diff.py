"""Where configs differ, by dotted key (the paths ``--set`` takes): for ``cnnlab
compare`` (several runs' configs, as plain data) and for ``--resume`` (a run's config
against the one given)."""

from __future__ import annotations

ABSENT = "(absent)"


def flatten(data, prefix: str = "") -> dict[str, object]:
    """{"model": {"layers": [{"filters": 32}]}} -> {"model.layers.0.filters": 32}. An empty
    dict or list is kept as one value."""
    if isinstance(data, dict) and data:
        items = data.items()
    elif isinstance(data, list) and data:
        items = enumerate(data)
    else:
        return {prefix or "config": data}
    out = {}
    for key, value in items:
        out.update(flatten(value, f"{prefix}.{key}" if prefix else str(key)))
    return out


def config_diff(configs: list[dict | None]) -> list[tuple[str, list[str]]]:
    """[(dotted key, [value in each config as text])] for the keys whose values are not all
    equal; a config without the key shows ABSENT."""
    flat = [flatten(c) if isinstance(c, dict) else {} for c in configs]
    keys = list(dict.fromkeys(k for f in flat for k in f))
    out = []
    for key in keys:
        values = [f.get(key, ABSENT) for f in flat]
        if any(v != values[0] for v in values[1:]):
            out.append((key, [v if v is ABSENT else value_text(v) for v in values]))
    return out


def changed_keys(a: dict, b: dict) -> list[str]:
    """The dotted keys where two configs differ."""
    return [key for key, _ in config_diff([a, b])]


def value_text(value) -> str:
    return "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
