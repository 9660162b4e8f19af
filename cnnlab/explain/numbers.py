"""Numbers as a learner writes them: 1 not 1.00, -0.11 not -0.1111111, grids in columns."""

from __future__ import annotations

import numpy as np


def fmt(value: float, decimals: int = 2) -> str:
    """Round to ``decimals`` places and drop trailing zeros ("-0.11", "1", "0.5")."""
    text = f"{float(value):.{decimals}f}"
    if "." in text:
        text = text.rstrip("0").rstrip(".")
    return "0" if text in ("-0", "") else text


def fmt_factor(value: float, decimals: int = 2) -> str:
    """A factor inside a product, bracketed when negative: (-1)."""
    text = fmt(value, decimals)
    return f"({text})" if text.startswith("-") else text


def grid_text(grid: np.ndarray, decimals: int = 2, indent: str = "  ", mark=None) -> str:
    """A 2-D array as aligned rows; ``mark(i, j)`` -> True brackets a cell (padding, window)."""
    cells = [[fmt(v, decimals) for v in row] for row in np.asarray(grid)]
    width = max((len(c) for row in cells for c in row), default=1)
    lines = []
    for i, row in enumerate(cells):
        parts = []
        for j, c in enumerate(row):
            parts.append(f"[{c:>{width}}]" if mark and mark(i, j) else f" {c:>{width}} ")
        lines.append(indent + "".join(parts).rstrip())
    return "\n".join(lines)


def channels_text(x: np.ndarray, decimals: int = 2, indent: str = "  ", mark=None) -> str:
    """(H, W, C) as one grid, or one labelled grid per channel."""
    if x.shape[-1] == 1:
        return grid_text(x[..., 0], decimals, indent, mark)
    return "\n".join(f"{indent}channel {c + 1}:\n" + grid_text(x[..., c], decimals, indent + "  ", mark)
                     for c in range(x.shape[-1]))


def shape_text(x: np.ndarray) -> str:
    h, w, c = x.shape
    return f"{h}x{w}" if c == 1 else f"{h}x{w}x{c}"
