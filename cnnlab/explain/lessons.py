"""Entry points: one function per topic, learner's input in, a Lesson (text + Figure) out.
The CLI prints ``text`` and saves ``figure``; a notebook can do the same."""

from __future__ import annotations

from dataclasses import dataclass

from cnnlab.errors import ConfigError
from cnnlab.explain import figures, text, xor
from cnnlab.explain.conv import check_fits, check_stride, convolve, parse_padding, resolve_pads, rule_text
from cnnlab.explain.matrices import MAX_SIDE, PRESETS, is_size_spec, load_matrix, parse_scale, parse_size
from cnnlab.explain.numbers import fmt, shape_text
from cnnlab.explain.pool import pool
from cnnlab.explain.sizes import dense_text, parameter_text, usage_counts

MAX_PIXELS = 25_000_000  # sizes-only counts are one int per pixel
SHOWN_CORNER = 40  # a big image's heatmap shows its top-left corner, where padding matters


@dataclass
class Lesson:
    topic: str  # also the default picture's name: outputs/explain/<topic>.png
    text: str
    figure: object  # matplotlib Figure


def parse_kernel(spec: str) -> tuple[int, int]:
    """"3" or "3x5" -> (FH, FW)."""
    spec = str(spec).strip()
    if spec.isdigit():
        n = int(spec)
        kernel = (n, n)
    else:
        h, w, c = parse_size(spec, "--kernel")
        if c != 1:
            raise ConfigError(f"--kernel {spec}: give the filter's height and width only (3 or 3x3); "
                              "its depth always equals the input's channels")
        kernel = (h, w)
    if min(kernel) < 1:
        raise ConfigError(f"--kernel {spec}: a filter needs at least 1x1 weights; use e.g. --kernel 3")
    return kernel


def conv_lesson(input_spec: str, filter_spec: str | None = None, *, kernel: str | None = None, stride: int = 1,
                padding: str = "valid", bias: float = 0.0, scale: str | None = None, relu: bool = False,
                filters: int = 1, max_panels: int = 16, cells: int = 2, decimals: int = 2) -> Lesson:
    pad = parse_padding(padding)
    if is_size_spec(input_spec):
        numbers_only = [name for name, given in (("--filter", filter_spec is not None), ("--bias", bias != 0),
                                                 ("--scale", scale is not None), ("--relu", relu)) if given]
        if numbers_only:
            raise ConfigError(f"--input {input_spec} is a size, not numbers, so {', '.join(numbers_only)} has nothing "
                              "to work on; give the input's values (e.g. --input \"1 2 3; 4 5 6; 7 8 9\"), "
                              "or leave it out for sizes only")
        return sizes_lesson(input_spec, kernel or "3", stride=stride, padding=pad, filters=filters)
    if kernel is not None or filters != 1:
        given = "--kernel" if kernel is not None else "--filters"
        raise ConfigError(f"{given} goes with a size like --input 7x7; with a matrix input the --filter's own "
                          "size is used and one filter makes one map, so leave it out")
    if filter_spec is None:
        raise ConfigError("explain conv needs --filter with a matrix input; e.g. --filter loop or "
                          "--filter \"1 0 -1; 1 0 -1; 1 0 -1\"")
    if max_panels < 1:
        raise ConfigError(f"--max-panels {max_panels}: draw at least 1 panel")
    x = load_matrix(input_spec, "--input")
    if isinstance(pad, int) and max(x.shape[:2]) + 2 * pad > MAX_SIDE:
        most = max((MAX_SIDE - max(x.shape[:2])) // 2, 0)
        raise ConfigError(f"--padding {pad} makes the {shape_text(x)} input {x.shape[0] + 2 * pad}x{x.shape[1] + 2 * pad}, "
                          f"more than a lesson prints and draws (at most {MAX_SIDE}x{MAX_SIDE}); use --padding "
                          f"{most} or less here")  # fmt: skip
    factor = parse_scale(scale)
    k = load_matrix(filter_spec, "--filter") * factor
    # the factor to keep outside the sums when written out: --scale, or a preset's own (loop: 1/9)
    preset_scale = PRESETS[filter_spec].scale if filter_spec in PRESETS else "1"
    labels = [t for t in (preset_scale if preset_scale != "1" else None, scale) if t]
    total = factor * parse_scale(preset_scale)
    scale_label = (" * ".join(labels), total) if labels else None
    note = f" (values x {' x '.join(labels)})" if labels else ""
    result = convolve(x, k, stride, pad, bias)
    return Lesson("conv", text.conv_text(result, decimals, cells, relu, note, scale_label),
                  figures.conv_figure(result, max_panels, decimals, relu))


def sizes_lesson(input_spec: str, kernel_spec: str = "3", *, stride: int = 1, padding="valid",
                 filters: int = 1) -> Lesson:
    h, w, c = parse_size(input_spec, "--input")
    kernel = parse_kernel(kernel_spec)
    check_stride(stride)
    if filters < 1:
        raise ConfigError(f"--filters {filters}: a conv layer has at least 1 filter")
    if h * w > MAX_PIXELS:
        raise ConfigError(f"--input {input_spec}: {h * w:,} pixels is more than this lesson counts "
                          f"({MAX_PIXELS:,}); use a size up to about 5000x5000")
    pad = parse_padding(padding)
    pads = resolve_pads(pad, (h, w), kernel, stride)
    padded = (h + pads.top + pads.bottom) * (w + pads.left + pads.right)
    if padded > MAX_PIXELS:  # the window counts are one int per padded pixel
        raise ConfigError(f"--padding {padding} makes the {h}x{w} input {h + pads.top + pads.bottom}x"
                          f"{w + pads.left + pads.right}: {padded:,} pixels is more than this lesson counts "
                          f"({MAX_PIXELS:,}); use less padding")  # fmt: skip
    check_fits((h, w), pads, kernel)
    lines = [(f"input {h}x{w}x{c}, filter {kernel[0]}x{kernel[1]}x{c} (x{filters} filters), stride {stride}, "
             f"padding {pads.mode}"), "", rule_text((h, w), kernel, stride, pads), ""]
    panels = []
    alternatives = [pad] + [p for p in ("valid", "same") if p != pad]
    for option in alternatives[:2]:
        option_pads = resolve_pads(option, (h, w), kernel, stride)
        if option != pad and (kernel[0] > h + option_pads.top + option_pads.bottom
                              or kernel[1] > w + option_pads.left + option_pads.right):
            continue  # the comparison panel would not fit
        counts = usage_counts((h, w), kernel, stride, option_pads)
        inner = counts[option_pads.top: option_pads.top + h, option_pads.left: option_pads.left + w]
        oh = (h + option_pads.top + option_pads.bottom - kernel[0]) // stride + 1
        ow = (w + option_pads.left + option_pads.right - kernel[1]) // stride + 1
        unread = int((inner == 0).sum())
        fact = (f"padding {option_pads.mode} -> {oh}x{ow}x{filters} output ({filters} map{'s' * (filters != 1)}, one per "
                f"filter): the top-left corner pixel is read by "
                f"{inner[0, 0]} window(s), the busiest pixel by {inner.max()}"
                + (f"; {unread} pixel(s) are never read" if unread else ""))
        lines.append(("" if option == pad else "compare ") + fact)
        crop = "" if max(counts.shape) <= SHOWN_CORNER else f" (top-left {SHOWN_CORNER}x{SHOWN_CORNER} shown)"
        panels.append((f"padding {option_pads.mode}: {oh}x{ow} output{crop}\ncorner read {inner[0, 0]}x, "
                       f"busiest {inner.max()}x" + (f", {unread} unread" if unread else ""),
                       counts[:SHOWN_CORNER, :SHOWN_CORNER], option_pads, (h, w)))
    lines += [("  edge pixels take part in fewer sums than centre pixels; zero padding gives the edges more "
              "windows and keeps the map from shrinking at every layer"), "",
              parameter_text(kernel, c, filters), dense_text((h, w), c, filters)]
    return Lesson("sizes", "\n".join(lines), figures.sizes_figure(panels))


def pool_lesson(input_spec: str, size: int = 2, stride: int | None = None, decimals: int = 2) -> Lesson:
    result = pool(load_matrix(input_spec, "--input"), size, stride)
    return Lesson("pool", text.pool_text(result, decimals), figures.pool_figure(result, decimals))


def relu_lesson(input_spec: str, decimals: int = 2) -> Lesson:
    x = load_matrix(input_spec, "--input")
    return Lesson("relu", text.relu_text(x, decimals), figures.relu_figure(x, decimals))


def xor_lesson(activation: str = "sigmoid", *, train: bool = False, seed: int = 0, decimals: int = 2) -> Lesson:
    net = xor.hidden_net(activation)
    body = text.xor_text(net, decimals)
    if train:
        trained = xor.train_keras(activation, seed)
        right = int(((trained.predict(xor.X) > 0.5) == xor.Y.astype(bool)).sum())
        rows = ", ".join(f"({fmt(a[0], decimals)}, {fmt(a[1], decimals)})" for a in trained.hidden(xor.X))
        body += (f"\n\nthe same shape trained by Keras ({trained.idea}): {right} of 4 rows right; "
                 f"hidden (a1, a2) per row: {rows}; outputs "
                 + ", ".join(fmt(v, decimals) for v in trained.predict(xor.X))
                 + ("" if right == 4 else "  (stuck: with only 2 hidden units some seeds fail; try another --seed)"))
        net = trained
    return Lesson("xor", body, figures.xor_figure(net, decimals))


def preset_table() -> str:
    rows = []
    for name, preset in PRESETS.items():
        shape = load_matrix(name).shape
        size = f"{shape[0]}x{shape[1]}" + (f"x{shape[2]}" if shape[2] > 1 else "")
        rows.append(f"{name:<11} {size:<7} {preset.about}")
    return "\n".join(rows)

