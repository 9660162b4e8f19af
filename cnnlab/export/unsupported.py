"""Turn a converter's "op X is not supported" failure into one line naming the layer."""

from __future__ import annotations

import re

from cnnlab.errors import ModelError

# How converters name the op they cannot handle.
_OP_PATTERNS = (
    r"'tf\.(\w+)' op is neither a custom op nor a flex op",  # TFLite
    r"op is neither a custom op nor a flex op.*?tf\.(\w+)",
    r"Tensorflow op \[[^\]]*: (\w+)\] is not supported",  # tf2onnx
    r"[Oo]p type[:= ]+'?(\w+)'? .*not supported",
    r"Could not find an implementation for (\w+)",  # onnxruntime
    r"No Op registered for (\w+)",
)


def layer_names(model) -> list:
    """Every layer, nested backbones included, longest name first (conv2d_1 before conv2d)."""
    layers = list(model._flatten_layers(include_self=False, recursive=True))
    return sorted(layers, key=lambda layer: -len(layer.name))


def culprit(text: str, model):
    """(layer or None, op name or None) that a converter's error text points at."""
    op = next((m.group(1) for p in _OP_PATTERNS if (m := re.search(p, text, re.S))), None)
    for layer in layer_names(model):  # op locations carry the Keras name scopes: .../<layer>/...
        if re.search(rf"(^|[/\"'(:@ ]){re.escape(layer.name)}(/|\b)", text):
            return layer, op
    return None, op


def unsupported_error(fmt: str, text: str, model) -> ModelError:
    layer, op = culprit(text, model)
    what = f"layer {layer.name!r} ({type(layer).__name__})" if layer is not None else "a layer of this model"
    because = f": TensorFlow op {op} has no {fmt} equivalent" if op else ""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")[:160]
    detail = "" if op else f" ({first})"
    return ModelError(f"{fmt} cannot express {what}{because}{detail}; remove that layer or export another format")
