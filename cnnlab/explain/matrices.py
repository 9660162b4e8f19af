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

# A lesson prints and draws every number: bigger grids take minutes and say nothing more.
MAX_SIDE = 100  # rows and columns of a matrix (and of it padded)
MAX_CHANNELS = 16
SIZE_PATTERN = re.compile(r"^\s*(\d+)\s*[xX×]\s*(\d+)\s*(?:[xX×]\s*(\d+))?\s*$")
_FILE_SUFFIXES = (".csv", ".txt", ".tsv", ".npy")


def parse_number(token: str, where: str) -> float:
    shown = repr(token if len(token) <= 40 else token[:37] + "...")
    try:
        value = float(Fraction(token)) if "/" in token else float(token)
    except OverflowError:  # a fraction whose value no float holds (10**400/1)
        raise ConfigError(f"{where}: {shown} is too large for a number; write numbers like 3, -0.5 or 1/9") from None
    except (ValueError, ZeroDivisionError):
        value = float("nan")
    if np.isinf(value) and token.strip().lstrip("+-").lower() not in ("inf", "infinity"):
        raise ConfigError(f"{where}: {shown} is too large for a number; write numbers like 3, -0.5 or 1/9")
    if not np.isfinite(value):  # also refuses "nan" and "inf", which float() accepts
        raise ConfigError(f"{where}: {shown} is not a number; write numbers like 3, -0.5 or 1/9")
    return value


def check_matrix_size(shape, what: str) -> None:
    """ConfigError when a matrix is larger than a lesson prints and draws."""
    h, w, c = (int(d) for d in shape)
    if h > MAX_SIDE or w > MAX_SIDE or c > MAX_CHANNELS:
        raise ConfigError(f"{what} is {h}x{w}x{c}, too large for a lesson that prints and draws every number (at most "
                          f"{MAX_SIDE}x{MAX_SIDE}x{MAX_CHANNELS}); crop it (e.g. x[:{MAX_SIDE}, :{MAX_SIDE}] in NumPy), or "
                          f"give explain conv the size alone (--input {h}x{w}) for the counts")  # fmt: skip


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
            check_matrix_size((len(rows_text), len(tokens), len(channels_text)), what)  # before parsing numbers
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
            mapped = np.load(path, allow_pickle=False, mmap_mode="r")  # the header first: no values read yet
            shape = tuple(mapped.shape) + ((1,) if mapped.ndim == 2 else ())
            if len(shape) != 3 or 0 in shape:
                raise ConfigError(f"{what}: {path} has shape {mapped.shape}; save a non-empty (H, W) or (H, W, C) array")
            check_matrix_size(shape, f"{what} {path}")
            arr = np.array(mapped, dtype=np.float64).reshape(shape)
        except (OSError, ValueError, TypeError) as exc:
            raise ConfigError(f"{what}: cannot read {path} as a NumPy array of numbers ({exc}); "
                              "save it with numpy.save") from None  # fmt: skip
        bad = int((~np.isfinite(arr)).sum())
        if bad:
            raise ConfigError(f"{what}: {path} holds {bad} NaN or infinite value(s) of {arr.size}; replace them with "
                              "numbers (e.g. numpy.nan_to_num) and save it again")  # fmt: skip
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
    if _could_be_path(spec) and (path.suffix.lower() in _FILE_SUFFIXES or _is_file(path)):
        if not _is_file(path):
            raise ConfigError(f"{what}: file {spec} does not exist; check the path (relative to {Path.cwd()})")
        return read_matrix_file(path, what)
    if re.fullmatch(r"[A-Za-z_][\w\-]*", spec):  # a single word: a mistyped preset name
        close = difflib.get_close_matches(spec, PRESETS, n=1)
        hint = f"did you mean '{close[0]}'? " if close else ""
        raise ConfigError(f"{what}: {spec!r} is not a preset, a file or a matrix; {hint}"
                          f"presets: {', '.join(PRESETS)} (cnnlab explain presets)")
    return parse_matrix(spec, what)


def _could_be_path(spec: str) -> bool:
    """A matrix typed inline (rows by ';' or new lines, often longer than a file name may
    be) is never tried as a path; file names with ';' still work when they end in .csv etc."""
    if "\n" in spec or len(spec.encode("utf-8", "surrogateescape")) > 1024:
        return False
    return ";" not in spec or Path(spec).suffix.lower() in _FILE_SUFFIXES


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except (OSError, ValueError):  # a name too long, a NUL byte: not a file
        return False


def parse_scale(text: str | None) -> float:
    return 1.0 if text is None else parse_number(text.strip(), "--scale")
