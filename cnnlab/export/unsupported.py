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


def culprit(text: str, model):
    """(layer or None, op name or None) that a converter's error text points at.

    Op locations carry TensorFlow name scopes such as ``functional_1/conv2d_1_2/Conv2D``:
    TF makes each scope unique by appending _1, _2, ... (in a traced Keras model the
    layer ``conv2d`` is ``conv2d_1`` and ``conv2d_1`` is ``conv2d_1_2``), so a scope
    is matched to the layer whose name plus "_1" it is first, then exactly, then plus _N."""
    op = next((m.group(1) for p in _OP_PATTERNS if (m := re.search(p, text, re.S))), None)
    input_layer = model.layers[0].__class__ if model.layers else None
    layers = {layer.name: layer for layer in model._flatten_layers(include_self=False, recursive=True)
              if layer.__class__ is not input_layer}  # fmt: skip
    paths = re.findall(r"[\w.\-]+(?:/[\w.\-]+)+", text)  # name-scope paths
    if op:
        paths = [p for p in paths if op in p] or paths
    for path in paths:
        for scope in reversed(path.split("/")[:-1]):  # innermost scope first; the last part is the op
            base = re.sub(r"_\d+$", "", scope)
            for name in (base if scope.endswith("_1") else None, scope, base):
                if name in layers:
                    return layers[name], op
    return None, op


def unsupported_error(fmt: str, text: str, model) -> ModelError:
    layer, op = culprit(text, model)
    what = f"layer {layer.name!r} ({type(layer).__name__})" if layer is not None else "a layer of this model"
    because = f": TensorFlow op {op} has no {fmt} equivalent" if op else ""
    first = next((line.strip() for line in text.splitlines() if line.strip()), "")[:160]
    detail = "" if op else f" ({first})"
    return ModelError(f"{fmt} cannot express {what}{because}{detail}; remove that layer or export another format")
