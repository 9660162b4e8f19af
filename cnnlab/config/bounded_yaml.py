"""YAML with a bound on alias expansion. PyYAML's safe_load shares aliased nodes, so a
few hundred bytes of nested `&a [*b, *b, ...]` stand for billions of values; anything
that walks the result (validation, error messages) then takes gigabytes and minutes.
Count the expanded size while composing and refuse early."""

from __future__ import annotations

import yaml

# A real config has a few hundred values; the largest sensible one (a long layer list
# with per-layer options) a few thousand.
MAX_VALUES = 100_000


class AliasBomb(yaml.YAMLError):
    """The document expands to more than MAX_VALUES values through aliases."""


class BoundedSafeLoader(yaml.SafeLoader):
    def __init__(self, stream):
        super().__init__(stream)
        self._sizes: dict[int, int] = {}  # id(node) -> values it stands for, aliases expanded

    def compose_node(self, parent, index):
        node = super().compose_node(parent, index)
        key = id(node)
        if key not in self._sizes:  # an alias returns its anchor's node, already counted
            if isinstance(node, yaml.SequenceNode):
                size = 1 + sum(self._sizes.get(id(child), 1) for child in node.value)
            elif isinstance(node, yaml.MappingNode):
                size = 1 + sum(self._sizes.get(id(k), 1) + self._sizes.get(id(v), 1) for k, v in node.value)
            else:
                size = 1
            if size > MAX_VALUES:
                mark = node.start_mark
                raise AliasBomb(f"aliases at line {mark.line + 1} expand to over {MAX_VALUES:,} values")
            self._sizes[key] = size
        return node


def safe_load(text: str):
    """yaml.safe_load, refusing alias expansion beyond MAX_VALUES (raises AliasBomb)."""
    loader = BoundedSafeLoader(text)
    try:
        return loader.get_single_data()
    finally:
        loader.dispose()
