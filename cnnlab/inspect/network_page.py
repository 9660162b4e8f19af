"""`cnnlab explain network`: the learner's own trained model on one image, as one
offline HTML page. The overview shows every layer's feature maps (small PNGs) and the
class probabilities; clicking a map opens its filter, the input it convolved and the
map itself, with the numbers under the cursor, recomputed in the page and checked
against what Keras gave.

Activations come from cnnlab.inspect.probes (one Probe per layer: nested backbones
work); the numbers travel as base64 float32 arrays, the pictures as PNG data: URIs.
The page's script and style are cnnlab/inspect/assets/network.{js,css}, inlined at
write time under a CSP that allows exactly them (by hash) and fetches nothing.

    from cnnlab.runs import load_run
    from cnnlab.inspect.network_page import write_network_page
    write_network_page(load_run("outputs/fashion/20260101-120000"))   # -> RUN/network.html
"""

from __future__ import annotations

import base64
import hashlib
import html
import io
import json
from pathlib import Path

import numpy as np

from cnnlab import runs
from cnnlab.backend import keras
from cnnlab.errors import RunError
from cnnlab.inspect import probes
from cnnlab.inspect.layer_paths import conv_kernel, has_maps, is_conv_or_pool, walk
from cnnlab.inspect.visualize import choose_image

NETWORK_PAGE = runs.RunDir.NETWORK  # the page's file name inside a run directory (report.html links it)
MAX_MAPS = 64  # maps per layer: the textbook model's 32 and 64 all shown
MAX_BACKBONE_MAPS = 16  # a pretrained backbone's 64..2048: the page stays a few hundred kB
MAX_LAYERS = 16  # layers with maps: a backbone has ~170, the page shows at most this many
MAX_NUMBERS = 64 * 64 * 64  # float32 numbers per layer embedded for the detail view; beyond, pictures only
ASSETS = Path(__file__).parent / "assets"


def _b64(a: np.ndarray) -> str:
    return base64.b64encode(np.ascontiguousarray(a, dtype="<f4").tobytes()).decode()


def _png(grid: np.ndarray) -> str:
    """(h, w) -> grayscale PNG data: URI, scaled to the map's own min..max (a flat map is grey)."""
    from PIL import Image

    lo, hi = float(grid.min()), float(grid.max())
    scaled = np.full(grid.shape, 128, np.uint8) if hi <= lo else ((grid - lo) / (hi - lo) * 255).round().astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(scaled, "L").save(buf, "PNG", optimize=True)
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def _image_png(image: np.ndarray) -> str:
    from PIL import Image

    img = image.astype(np.uint8)
    buf = io.BytesIO()
    Image.fromarray(img[..., 0] if img.shape[-1] == 1 else img[..., :3]).save(buf, "PNG")
    return "data:image/png;base64," + base64.b64encode(buf.getvalue()).decode()


def pick_layers(model, max_layers: int = MAX_LAYERS):
    """Every layer with feature maps (4-D output), nested models' own layers included;
    with more than ``max_layers``, the conv and pooling ones, evenly spaced, the last kept.
    -> (chosen refs, how many had maps)."""
    k = keras()
    refs = [r for r in walk(model) if has_maps(r.layer) and not isinstance(r.layer, k.Model)]
    if len(refs) <= max_layers:
        return refs, len(refs)
    pool = [r for r in refs if is_conv_or_pool(r.layer)] or refs
    if len(pool) > max_layers:
        idx = np.unique(np.linspace(0, len(pool) - 1, max_layers).round().astype(int))
        pool = [pool[i] for i in idx]
    return pool, len(refs)


def probabilities(model, image: np.ndarray) -> np.ndarray:
    """(classes,) for one (H, W, C) image: the model's softmax output, or a softmax of its scores."""
    out = np.asarray(model(image[None].astype(np.float32), training=False), np.float64)[0]
    if out.min() >= 0 and abs(out.sum() - 1) < 1e-3:
        return out
    e = np.exp(out - out.max())
    return e / e.sum()


def _conv_facts(layer) -> dict | None:
    """What the page needs to recompute a Conv2D: kernel (kh, kw, in, out), bias, stride,
    padding, activation; None for anything it does not recompute (dilation, groups, depthwise)."""
    k = keras()
    if type(layer) is not k.layers.Conv2D or tuple(layer.dilation_rate) != (1, 1) or getattr(layer, "groups", 1) != 1:
        return None
    kernel = conv_kernel(layer)
    bias = np.asarray(k.ops.convert_to_numpy(layer.bias)) if layer.use_bias else np.zeros(kernel.shape[-1])
    return {"kernel": kernel, "bias": bias, "stride": [int(s) for s in layer.strides], "padding": layer.padding,
            "activation": getattr(layer.activation, "__name__", "linear")}


def _pool_facts(layer) -> dict | None:
    name = type(layer).__name__
    kind = {"MaxPooling2D": "max", "AveragePooling2D": "average", "MinPooling2D": "min"}.get(name)
    if kind is None:
        return None
    return {"kind": kind, "size": [int(s) for s in layer.pool_size], "stride": [int(s) for s in layer.strides],
            "padding": layer.padding}


def network_state(loaded, image: str | Path | None = None, index: int | None = None, *,
                  max_maps: int | None = None, max_layers: int = MAX_LAYERS) -> dict:
    """Everything the page shows, as plain JSON-able data. ``max_maps``: per layer
    (default MAX_MAPS, or MAX_BACKBONE_MAPS for layers inside a nested backbone)."""
    model = loaded.model
    chosen = choose_image(loaded, image, index)
    x = chosen.image.astype(np.float32)  # (H, W, C) raw pixels, as the model takes them
    refs, with_maps = pick_layers(model, max_layers)
    if max_maps is None:
        max_maps = MAX_BACKBONE_MAPS if any(r.containers for r in refs) else MAX_MAPS
    dense_only = not any(conv_kernel(r.layer) is not None for r in walk(model))
    if dense_only:  # an MLP: its only 4-D outputs are the input rescaled; there are no filters or maps
        refs, with_maps = [], 0
    probs = probabilities(model, x)
    layers = []
    outputs = {}  # id(output tensor) -> index in layers, to find each layer's input
    for ref in refs:
        act = probes.feature_maps(probes.Probe(model, ref), x[None])[0]  # (h, w, k)
        h, w, total = act.shape
        shown = min(total, max_maps)
        entry = {"path": ref.path, "type": ref.class_name, "shape": [h, w, total], "shown": shown,
                 "pngs": [_png(act[..., c]) for c in range(shown)], "input": None, "conv": None, "pool": None,
                 "numbers": _b64(act[..., :shown]) if h * w * shown <= MAX_NUMBERS else None}
        layer = ref.layer
        try:
            source = layer.input
            entry["input"] = outputs.get(id(source))  # None: the model's input or a layer not shown
        except (AttributeError, ValueError):
            pass
        conv = _conv_facts(layer)
        if conv:
            # only the slices the page can use: input channels it carries, filters it shows
            carried = layers[entry["input"]]["shown"] if entry["input"] is not None else 0
            kernel = conv["kernel"][:, :, :carried, :shown]  # (kh, kw, in carried, shown)
            entry["conv"] = {**conv, "kernel": _b64(kernel), "kernel_shape": list(kernel.shape),
                             "in_channels": int(conv["kernel"].shape[2]),
                             "bias": [float(b) for b in conv["bias"][:shown]]}
        entry["pool"] = _pool_facts(layer)
        try:
            outputs[id(layer.output)] = len(layers)
        except (AttributeError, ValueError):
            pass
        layers.append(entry)
    h, w, c = x.shape
    top = np.argsort(probs)[::-1]
    return {
        "model": model.name, "run": str(loaded.run_dir) if loaded.run_dir else None,
        "image": {"caption": chosen.caption, "label": chosen.label, "png": _image_png(chosen.image),
                  "shape": [h, w, c]},
        "classes": list(loaded.class_names), "probabilities": [float(p) for p in probs],
        "predicted": int(top[0]), "layers": layers, "layers_with_maps": with_maps, "max_maps": max_maps,
        "dense_only": dense_only, "first_dense": _first_dense(model) if dense_only else None,
    }


def _first_dense(model) -> str | None:
    """'dense: 784 inputs x 128 units + 128 biases = 100,480 parameters' for an MLP's first layer."""
    for ref in walk(model):
        kernel = getattr(ref.layer, "kernel", None)
        if kernel is not None and len(kernel.shape) == 2:
            n_in, units = (int(d) for d in kernel.shape)
            return (f"{ref.path}: {n_in:,} inputs × {units} units + {units} biases = "
                    f"{n_in * units + units:,} parameters")
    return None


def _hash(text: str) -> str:  # as cnnlab.explain.page.csp_hash (inspect may not import explain)
    return "'sha256-" + base64.b64encode(hashlib.sha256(text.encode()).digest()).decode() + "'"


BODY = """<header><h1>{title}</h1><p class="muted">{sub}</p></header>
<main>
<section id="overview" aria-label="every layer's feature maps"></section>
<section id="detail" aria-live="polite"></section>
<section id="probabilities" aria-label="class probabilities"></section>
</main>"""


def network_page(state: dict) -> str:
    script = (ASSETS / "network.js").read_text(encoding="utf-8")
    style = (ASSETS / "network.css").read_text(encoding="utf-8")
    csp = (f"default-src 'none'; script-src {_hash(script)}; style-src {_hash(style)}; img-src data:; "
           "base-uri 'none'; form-action 'none'")
    title = f"What {state['model']} sees"
    sub = f"{state['image']['caption']} — " + (f"run {state['run']}" if state["run"] else "a .keras file")
    data = json.dumps(state, separators=(",", ":")).replace("<", "\\u003c")
    return ("<!DOCTYPE html>\n<html lang=\"en\"><head><meta charset=\"utf-8\">\n"
            f'<meta http-equiv="Content-Security-Policy" content="{csp}">\n'
            '<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{html.escape(title)}</title>\n<style>{style}</style></head>\n<body>\n"
            + BODY.format(title=html.escape(title), sub=html.escape(sub))
            + f'\n<script type="application/json" id="state">{data}</script>\n<script>{script}</script>\n</body></html>\n')


def write_network_page(loaded, path: str | Path | None = None, *, image: str | Path | None = None,
                       index: int | None = None, max_maps: int | None = None) -> Path:
    """Write the page (default: RUN/network.html, the name in NETWORK_PAGE) and return its path.
    The report calls this with the loaded run to link the page from report.html."""
    if path is None:
        if loaded.run_dir is None:
            raise RunError("a .keras file outside a run directory needs a path for its page; pass --html PATH")
        path = Path(loaded.run_dir) / NETWORK_PAGE
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    runs.write_text(path, network_page(network_state(loaded, image, index, max_maps=max_maps)))
    return path
