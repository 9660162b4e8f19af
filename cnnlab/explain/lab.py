"""The interactive lab page (`cnnlab explain conv|pool|relu|lab --html PAGE`): the
learner's matrix, filters, stride, padding, ReLU and pooling in one HTML file whose
script recomputes everything when a control changes.

The page starts from a state computed here with the same NumPy code as the text
lessons (convolve, relu, pool): the script checks its own first computation against
those numbers and says so in the page (a console error if they ever differ).

State (JSON): input text (rows by new lines, channels by '|', as cnnlab.explain.matrices
reads it); filters [{name, text as typed, scale text, bias}]; conv / relu flags; stride; padding 'valid' | 'same' | N; pool {on, kind, size,
stride}; decimals; presets {label: state without presets}; numpy {maps, relu, pooled}:
per filter (OH, OW) lists (per channel without a convolution), the initial results."""

from __future__ import annotations

from fractions import Fraction

import numpy as np

from cnnlab.errors import ConfigError
from cnnlab.explain.conv import convolve, relu
from cnnlab.explain.matrices import PRESETS, load_matrix, parse_matrix
from cnnlab.explain.numbers import fmt
from cnnlab.explain.page import esc, render
from cnnlab.explain.pool import pool

MAX_SIDE = 32  # a page grid wider than this is no longer readable on a phone
MAX_FILTERS = 8
MAX_CHANNELS = 4

# Filters only the page and `explain lab` know (the lecture's pattern filters on the "9").
# Each is +1 where the stroke is, -1 elsewhere, x 1/9 like the loop filter.
PAGE_FILTERS = {
    "diagonal": ("-1 -1 1; -1 1 -1; 1 -1 -1", "1/9", "3x3 '/' stroke: the tail of the 9 (out[4,1] = 1)"),
    "vline": ("-1 1 -1; -1 1 -1; -1 1 -1", "1/9", "3x3 vertical stroke: the right side of the 9"),
}


def _rows(m: np.ndarray) -> list[list[float]]:
    return [[float(v) for v in row] for row in np.asarray(m, dtype=float)]


def _text(m) -> str:
    """(H, W) or (H, W, C) -> the page's text: rows by new lines, channels by '|'."""
    m = np.asarray(m, dtype=float)
    if m.ndim == 3:
        return "\n|\n".join(_text(m[..., c]) for c in range(m.shape[-1]))
    return "\n".join(" ".join(fmt(v, 6) for v in row) for row in m)


def drawable(x: np.ndarray, what: str) -> np.ndarray:
    """(H, W, C) as it is; refuse what the page cannot draw legibly."""
    if x.shape[-1] > MAX_CHANNELS:
        raise ConfigError(f"{what} has {x.shape[-1]} channels; the page draws up to {MAX_CHANNELS}, "
                          "so give fewer (the text lesson without --html handles more)")
    if max(x.shape[:2]) > MAX_SIDE:
        raise ConfigError(f"{what} is {x.shape[0]}x{x.shape[1]}; the page draws grids up to "
                          f"{MAX_SIDE}x{MAX_SIDE}, so crop it")
    return x


def filter_entry(spec: str, scale: str | None = None, bias: float = 0.0) -> dict:
    """A filter as the page shows it: values as typed (a preset's 1/9 kept as the scale)."""
    if spec in PAGE_FILTERS:
        text, preset_scale, _ = PAGE_FILTERS[spec]
        values = parse_matrix(text, spec)
    elif spec in PRESETS:
        values, preset_scale = parse_matrix(PRESETS[spec].text, spec), PRESETS[spec].scale
    else:
        values, preset_scale = load_matrix(spec, "--filter"), "1"
    total = Fraction(preset_scale) * (Fraction(scale) if scale else 1)
    return {"name": spec if spec in PRESETS or spec in PAGE_FILTERS else "your filter",
            "text": _text(drawable(values, f"--filter {spec}")), "scale": str(total), "bias": float(bias)}


def filter_values(entry: dict) -> np.ndarray:
    return parse_matrix(entry["text"], entry["name"]) * float(Fraction(entry["scale"]))


def numpy_results(state: dict) -> dict:
    """What cnnlab.explain's NumPy code gives for this state (the page checks itself against it)."""
    x = parse_matrix(state["input"], "input")  # (H, W, C)
    maps = [convolve(x, filter_values(f), state["stride"], state["padding"], f["bias"]).out
            for f in state["filters"]] if state["conv"] else [x[..., c] for c in range(x.shape[-1])]
    after_relu = [relu(m) for m in maps] if state["relu"] else maps
    pooled = []
    if state["pool"]["on"]:
        p = state["pool"]
        pooled = [pool(m[..., None], p["size"], p["stride"]).maps[p["kind"]][..., 0] for m in after_relu]
    return {"maps": [_rows(m) for m in maps], "relu": [_rows(m) for m in after_relu] if state["relu"] else [],
            "pooled": [_rows(m) for m in pooled]}


def make_state(input_text: str, filters: list[dict], *, conv: bool = True, stride: int = 1, padding="valid",
               relu_on: bool = False, pool_on: bool = False, pool_kind: str = "max", pool_size: int = 2,
               pool_stride: int | None = None, about: str = "") -> dict:
    state = {"about": about, "input": input_text, "filters": filters, "conv": conv, "stride": stride,
             "padding": padding, "relu": relu_on,
             "pool": {"on": pool_on, "kind": pool_kind, "size": pool_size,
                      "stride": pool_size if pool_stride is None else pool_stride}}
    state["numpy"] = numpy_results(state)
    return state


def preset_text(name: str) -> str:
    return _text(parse_matrix(PRESETS[name].text, name))


def lecture_presets() -> dict[str, dict]:
    """Every lecture example the page can load (label -> state)."""
    nine, f = preset_text("digit9"), filter_entry
    relu_in = "-0.11 1 -0.11; -0.56 0.11 -0.33; -0.33 0.33 -0.33; 0.11 -0.11 -0.56; -0.33 -0.33 -0.11"
    return {
        "the 9, loop filter (5x3 map starting -0.11, 1, -0.11)": make_state(nine, [f("loop")]),
        "the 9: conv -> ReLU -> 2x2 max pool at stride 1 (the lecture pipeline)": make_state(
            nine, [f("loop")], relu_on=True, pool_on=True, pool_stride=1),
        "the 9, diagonal filter (the tail lights up at out[4,1])": make_state(nine, [f("diagonal")], relu_on=True),
        "the 9, three filters -> three maps (loop, vertical stroke, diagonal)": make_state(
            nine, [f("loop"), f("vline"), f("diagonal")], relu_on=True, pool_on=True, pool_stride=1),
        "the 9, loop filter at stride 2 (3x2 map)": make_state(nine, [f("loop")], stride=2),
        "the 9, loop filter, padding same (7x5 map)": make_state(nine, [f("loop")], padding="same"),
        "step edge, vertical filter (0 27 27 0)": make_state(preset_text("step"), [f("vertical")]),
        "step edge, horizontal filter (all 0)": make_state(preset_text("step"), [f("horizontal")]),
        "1..25, 3x3 ones, stride 2, padding 1": make_state(preset_text("ramp5"), [f("1 1 1; 1 1 1; 1 1 1")],
                                                           stride=2, padding=1),
        "pooling 4x4: 2x2 max at stride 2 (8 9; 4 3)": make_state(preset_text("pool4x4"), [], conv=False,
                                                                   pool_on=True),
        "pooling 4x4: 2x2 average at stride 2": make_state(preset_text("pool4x4"), [], conv=False, pool_on=True,
                                                            pool_kind="average"),
        "pooling 4x4: 2x2 min at stride 2": make_state(preset_text("pool4x4"), [], conv=False, pool_on=True,
                                                        pool_kind="min"),
        "ReLU on the 9's map (12 of 15 become 0)": make_state(relu_in, [], conv=False, relu_on=True),
        "3 channels: rgb4 and a 3-slice filter, bias 1, padding same (out[0,0] = 8)": make_state(
            preset_text("rgb4"), [f("rgb3x3", bias=1.0)], padding="same"),
        "3 channels, 2 filters of 3x3x3, no padding: 4x4x3 -> 2x2x2": make_state(
            preset_text("rgb4"), [f("rgb3x3"), {**f(" | ".join(["1 1 1; 1 1 1; 1 1 1"] * 3)), "name": "ones"}]),
        "second pooling matrix: 2x2 max at stride 2 (20 30; 80 33)": make_state(
            "13 20 30 0\n8 12 3 0\n34 70 33 5\n11 80 10 23", [], conv=False, pool_on=True),
    }


BODY = """
<header><h1>{title}</h1><p class="muted">{about}</p></header>
<main>
<section id="controls" aria-label="controls">
  <label class="wide">Lecture examples <select id="preset"></select></label>
  <label class="wide">Input matrix (rows by ; or new lines, values by spaces, channels by |; 1/9 allowed)
    <textarea id="input" rows="5" spellcheck="false"></textarea></label>
  <fieldset><legend><label><input type="checkbox" id="conv"> Convolution</label></legend>
    <label>Stride <input type="range" id="stride" min="1" max="5" step="1"> <output id="stride-out"></output></label>
    <label>Padding <select id="padmode"><option value="valid">valid (none)</option>
      <option value="same">same (keep ceil(H/S))</option><option value="n">N zeros</option></select>
      <input type="number" id="padn" min="0" max="5" step="1" aria-label="rings of zeros"></label>
    <label>Filter size <input type="number" id="ksize" min="1" max="9" step="1"></label>
    <div id="filters"></div>
    <button type="button" id="addf">+ filter</button>
  </fieldset>
  <fieldset><legend><label><input type="checkbox" id="relu"> ReLU, max(0, x)</label></legend></fieldset>
  <fieldset><legend><label><input type="checkbox" id="pool"> Pooling</label></legend>
    <label>Kind <select id="pkind"><option>max</option><option>average</option><option>min</option></select></label>
    <label>Window <input type="number" id="psize" min="1" max="6" step="1"></label>
    <label>Stride <input type="number" id="pstride" min="1" max="6" step="1"></label>
  </fieldset>
</section>
<section id="rule" aria-live="polite"></section>
<p id="check" class="muted"></p>
<section id="stages"></section>
<div id="why" aria-live="polite">Hover, tap or tab to a cell to see how it is computed.</div>
</main>
"""


def lab_page(state: dict, title: str, decimals: int = 2) -> str:
    state = {**state, "decimals": decimals, "presets": lecture_presets()}
    body = BODY.format(title=esc(title), about=esc(state.get("about") or
                       "Change any number or control: every map is recomputed in the page. Nothing is fetched."))
    return render(title, body, state, ["lab.js"], ["lab.css"])


# ---------------------------------------------------------------- the CLI's pages


def conv_state(input_spec: str, filter_spec: str | None, *, kernel: str | None = None, stride: int = 1,
               padding="valid", bias: float = 0.0, scale: str | None = None, relu_on: bool = False) -> dict:
    from cnnlab.explain.conv import parse_padding
    from cnnlab.explain.matrices import is_size_spec, parse_size

    pad = parse_padding(padding)
    if is_size_spec(input_spec):  # sizes only: numbers 1..H*W and a filter of ones to play with
        h, w, c = parse_size(input_spec, "--input")
        drawable(np.zeros((1, 1, c)), f"--input {input_spec}")
        if max(h, w) > MAX_SIDE:
            raise ConfigError(f"--input {input_spec}: the page draws grids up to {MAX_SIDE}x{MAX_SIDE}; "
                              "use a smaller size with --html")
        fh, fw = (int(v) for v in (str(kernel or 3).lower().split("x") * 2)[:2])
        x = np.arange(1, h * w * c + 1, dtype=float).reshape(c, h, w).transpose(1, 2, 0)
        filters = [{"name": "ones", "text": _text(np.ones((fh, fw, c))), "scale": "1", "bias": 0.0}]
        about = f"--input {input_spec} is a size: the page fills it with 1..{h * w * c} and a filter of ones."
    else:
        x = drawable(load_matrix(input_spec, "--input"), "--input")
        if filter_spec is None:
            raise ConfigError("--html with a matrix input needs --filter; e.g. --filter loop")
        filters = [filter_entry(filter_spec, scale, bias)]
        about = ""
    return make_state(_text(x), filters, stride=stride, padding=pad, relu_on=relu_on, about=about)


def pool_state(input_spec: str, size: int = 2, stride: int | None = None) -> dict:
    x = drawable(load_matrix(input_spec, "--input"), "--input")
    return make_state(_text(x), [], conv=False, pool_on=True, pool_size=size, pool_stride=stride)


def relu_state(input_spec: str) -> dict:
    x = drawable(load_matrix(input_spec, "--input"), "--input")
    return make_state(_text(x), [], conv=False, relu_on=True)


def lab_state(input_spec: str = "digit9", filter_specs=("loop",), *, stride: int = 1, padding="valid",
              pool_size: int = 2, pool_stride: int = 1, pool_kind: str = "max") -> dict:
    """The lecture pipeline by default: the 9 -> loop filter -> ReLU -> 2x2 max pool at stride 1."""
    from cnnlab.explain.conv import parse_padding

    x = drawable(load_matrix(input_spec, "--input"), "--input")
    if len(filter_specs) > MAX_FILTERS:
        raise ConfigError(f"{len(filter_specs)} filters: the page shows at most {MAX_FILTERS}")
    filters = [filter_entry(spec) for spec in filter_specs]
    return make_state(_text(x), filters, stride=stride, padding=parse_padding(padding), relu_on=True,
                      pool_on=True, pool_kind=pool_kind, pool_size=pool_size, pool_stride=pool_stride)
