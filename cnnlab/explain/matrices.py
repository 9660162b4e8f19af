"""Matrices a learner types: inline text, CSV/TXT/NPY files, or built-in presets.

Inline syntax: rows separated by ';' (or new lines), values by spaces or commas,
channels by '|':  "1 2; 3 4"  is 2x2,  "1 2; 3 4 | 5 6; 7 8"  is 2x2x2.
Values may be fractions ("1/9"). Files use the same syntax with one row per line and a
blank line (or a line with '|') between channels. Results are float arrays of shape
(H, W, C), C = 1 for a plain grid."""

from __future__ import annotations

import difflib
import re
from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import numpy as np

from cnnlab.errors import ConfigError

_DIGIT9 = """-1 1 1 1 -1; -1 1 -1 1 -1; -1 1 1 1 -1; -1 -1 -1 1 -1;
             -1 -1 -1 1 -1; -1 -1 1 -1 -1; -1 1 -1 -1 -1"""


@dataclass(frozen=True)
class Preset:
    text: str
    about: str
    scale: str = "1"  # a fraction the values are multiplied by (the loop filter is 1/9)


# name -> matrix. Adding a preset is one entry here.
PRESETS: dict[str, Preset] = {
    "digit9": Preset(_DIGIT9, "7x5 handwritten digit 9, +1 ink / -1 background: a loop on top, a vertical stroke, a diagonal tail (try the loop filter)"),
    "loop": Preset("1 1 1; 1 -1 1; 1 1 1", "3x3 'loop' filter x 1/9: on digit9 its map starts -0.11, 1, -0.11", "1/9"),
    "pool4x4": Preset("3 1 3 4; 8 4 9 2; 1 4 3 1; 1 2 2 0", "4x4 pooling example: 2x2 max pooling gives 8 9; 4 3"),
    "vertical": Preset("1 0 -1; 1 0 -1; 1 0 -1", "3x3 vertical-edge filter (bright left, dark right)"),
    "horizontal": Preset("1 1 1; 0 0 0; -1 -1 -1", "3x3 horizontal-edge filter (bright top, dark bottom)"),
    "step": Preset("9 9 9 0 0 0; 9 9 9 0 0 0; 9 9 9 0 0 0; 9 9 9 0 0 0; 9 9 9 0 0 0; 9 9 9 0 0 0",
                   "6x6 image, bright left half, dark right half (try the 'vertical' filter)"),
    "ramp5": Preset("1 2 3 4 5; 6 7 8 9 10; 11 12 13 14 15; 16 17 18 19 20; 21 22 23 24 25",
                    "5x5 numbers 1..25, easy to follow by hand"),
    "rgb4": Preset("1 0 2 1; 0 1 3 0; 2 1 0 1; 1 0 1 2 | 0 1 0 1; 1 0 1 0; 0 1 0 1; 1 0 1 0 | "
                   "2 2 0 0; 2 2 0 0; 0 0 1 1; 0 0 1 1", "4x4x3 colour-like input (3 channels)"),
    "rgb3x3": Preset("1 0 0; 0 1 0; 0 0 1 | 0 1 0; 0 1 0; 0 1 0 | -1 0 1; -1 0 1; -1 0 1",
                     "3x3x3 filter to use with rgb4 (one slice per channel)"),
}

SIZE_PATTERN = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*$")
_FILE_SUFFIXES = (".csv", ".txt", ".tsv", ".npy")


def parse_number(token: str, where: str) -> float:
    try:
        value = float(Fraction(token)) if "/" in token else float(token)
    except (ValueError, ZeroDivisionError):
        value = float("nan")
    if not np.isfinite(value):  # also refuses "nan" and "inf", which float() accepts
        raise ConfigError(f"{where}: {token!r} is not a number; write numbers like 3, -0.5 or 1/9")
    return value


def parse_matrix(text: str, what: str = "matrix") -> np.ndarray:
    """Inline or file-body text -> float array (H, W, C)."""
    channels_text = [c for c in re.split(r"\|", text)]
    channels = []
    for ci, chunk in enumerate(channels_text):
        rows_text = [r.strip() for r in re.split(r"[;\n]", chunk) if r.strip()]
        if not rows_text:
            where = f"{what} channel {ci + 1}" if len(channels_text) > 1 else what
            raise ConfigError(f"{where} has no numbers; "
                              "write rows separated by ';' and values by spaces, e.g. \"1 2; 3 4\"")
        rows = []
        for ri, row in enumerate(rows_text):
            tokens = [t for t in re.split(r"[,\s\t]+", row) if t]
            rows.append([parse_number(t, f"{what} row {ri + 1}") for t in tokens])
        widths = {len(r) for r in rows}
        if len(widths) > 1:
            counts = ", ".join(str(len(r)) for r in rows)
            raise ConfigError(f"{what}: rows have different lengths ({counts} values); "
                              "give every row the same number of values")
        channels.append(np.array(rows, dtype=np.float64))
    shapes = {c.shape for c in channels}
    if len(shapes) > 1:
        desc = ", ".join(f"{c.shape[0]}x{c.shape[1]}" for c in channels)
        raise ConfigError(f"{what}: channels have different sizes ({desc}); "
                          "give every channel between '|' the same rows and columns")
    return np.stack(channels, axis=-1)


def read_matrix_file(path: Path, what: str) -> np.ndarray:
    if path.suffix.lower() == ".npy":
        try:
            arr = np.load(path, allow_pickle=False).astype(np.float64)
        except (OSError, ValueError) as exc:
            raise ConfigError(f"{what}: cannot read {path} as a NumPy array ({exc}); save it with numpy.save") from None
        if arr.ndim == 2:
            arr = arr[..., None]
        if arr.ndim != 3 or 0 in arr.shape:
            raise ConfigError(f"{what}: {path} has shape {arr.shape}; save a non-empty (H, W) or (H, W, C) array")
        return arr
    try:
        text = path.read_text()
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError(f"{what}: cannot read {path} ({exc}); give a text file with one row per line") from None
    # a blank line between blocks of rows separates channels, like '|' inline
    text = re.sub(r"\n\s*\n(?=\s*\S)", "\n|\n", text.strip())
    return parse_matrix(text, f"{what} ({path.name})")


def preset_names() -> list[str]:
    return list(PRESETS)


def load_preset(name: str) -> np.ndarray:
    preset = PRESETS[name]
    return parse_matrix(preset.text, name) * float(Fraction(preset.scale))


def is_size_spec(text: str) -> bool:
    return bool(SIZE_PATTERN.match(text))


def parse_size(text: str, what: str) -> tuple[int, int, int]:
    """"7x7" or "28x28x3" -> (H, W, C)."""
    m = SIZE_PATTERN.match(text)
    if not m:
        raise ConfigError(f"{what}: {text!r} is not a size; write HxW or HxWxC, e.g. 7x7 or 28x28x3")
    h, w, c = int(m[1]), int(m[2]), int(m[3] or 1)
    if min(h, w, c) < 1:
        raise ConfigError(f"{what}: {text!r} has a zero size; every size must be at least 1")
    return h, w, c


def load_matrix(spec: str, what: str = "--input") -> np.ndarray:
    """A preset name, a file path, or inline text -> float array (H, W, C)."""
    spec = spec.strip()
    if not spec:
        raise ConfigError(f"{what} is empty; give a matrix like \"1 2; 3 4\", a .csv/.txt file or a preset "
                          f"({', '.join(PRESETS)})")
    if spec in PRESETS:
        return load_preset(spec)
    if is_size_spec(spec):
        raise ConfigError(f"{what} {spec} is a size, but this needs the numbers; give a matrix like \"1 2; 3 4\" "
                          "(sizes alone work with explain conv --kernel)")
    path = Path(spec)
    if path.suffix.lower() in _FILE_SUFFIXES or path.is_file():
        if not path.is_file():
            raise ConfigError(f"{what}: file {spec} does not exist; check the path (relative to {Path.cwd()})")
        return read_matrix_file(path, what)
    if re.fullmatch(r"[A-Za-z_][\w\-]*", spec):  # a single word: a mistyped preset name
        close = difflib.get_close_matches(spec, PRESETS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(f"{what}: {spec!r} is not a preset, a file or a matrix; {hint}"
                          f"presets: {', '.join(PRESETS)} (cnnlab explain presets)")
    return parse_matrix(spec, what)


def parse_scale(text: str | None) -> float:
    return 1.0 if text is None else parse_number(text.strip(), "--scale")
