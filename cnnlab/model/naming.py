"""Layer names as Keras gives them (conv2d, conv2d_1, ...), from the config alone, so that
``--layer conv2d_1`` means the same layer in every process and in ``summary --input``."""

from __future__ import annotations

import re


def snake_case(class_name: str) -> str:
    """Keras's own default-name rule: MaxPooling2D -> max_pooling2d."""
    name = re.sub(r"(.)([A-Z][a-z0-9]+)", r"\1_\2", class_name)
    return re.sub(r"([a-z])([A-Z])", r"\1_\2", name).lower()


def layer_names(specs) -> list[str]:
    """The default name of each layer of a layer list: the snake_case type, numbered from
    its second use on."""
    counts: dict[str, int] = {}
    names = []
    for spec in specs:
        base = snake_case(str(spec.get("type")))
        n = counts.get(base, 0)
        counts[base] = n + 1
        names.append(base if n == 0 else f"{base}_{n}")
    return names
