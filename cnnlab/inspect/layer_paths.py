"""Find the layer(s) that ``--layer NAME`` means, including layers inside a nested
model (a pretrained backbone such as ``resnet50`` is one layer of the outer model).

    conv2d_1                 an exact layer name
    Conv2D / conv2d          a class name: the first layer of that class
    all                      every conv and pooling layer with a 4-D output, in order
    resnet50/conv1_conv      a layer inside a nested model (any depth: a/b/c)
    conv1_conv               the same, when that inner name is unique
"""

from __future__ import annotations

from dataclasses import dataclass

from cnnlab.backend import keras
from cnnlab.model.naming import snake_case
from cnnlab.errors import ModelError, did_you_mean


@dataclass(frozen=True)
class LayerRef:
    """One layer and the chain of nested models that holds it (outermost first)."""

    path: str  # "conv2d_1" or "resnet50/conv1_conv"
    layer: object
    containers: tuple = ()  # nested models between the outer model and the layer

    @property
    def name(self) -> str:
        return self.layer.name

    @property
    def class_name(self) -> str:
        return type(self.layer).__name__


def walk(model, _prefix: str = "", _containers: tuple = ()) -> list[LayerRef]:
    """Every layer in model order, descending into nested models right after them."""
    k = keras()
    refs = []
    for layer in model.layers:
        if isinstance(layer, k.layers.InputLayer):
            continue
        ref = LayerRef(_prefix + layer.name, layer, _containers)
        refs.append(ref)
        if isinstance(layer, k.Model):
            refs += walk(layer, ref.path + "/", _containers + (layer,))
    return refs


def conv_kernel(layer):
    """The layer's convolution kernel as (kh, kw, in, out) numpy, or None."""
    import numpy as np

    k = keras()
    kernel = getattr(layer, "depthwise_kernel", None)  # DepthwiseConv2D, SeparableConv2D
    if kernel is not None:
        kernel = np.asarray(k.ops.convert_to_numpy(kernel))  # (kh, kw, in, multiplier)
        kh, kw, cin, mult = kernel.shape
        return kernel.reshape(kh, kw, 1, cin * mult)  # each channel has its own 2-D kernel
    kernel = getattr(layer, "kernel", None)
    if kernel is None or len(kernel.shape) != 4:
        return None
    kernel = np.asarray(k.ops.convert_to_numpy(kernel))
    if isinstance(layer, k.layers.Conv2DTranspose):
        kernel = kernel.transpose(0, 1, 3, 2)  # stored as (kh, kw, out, in)
    return kernel


def output_shape(layer) -> tuple | None:
    try:
        return tuple(layer.output.shape)
    except (AttributeError, ValueError):
        return None


def has_maps(layer) -> bool:
    shape = output_shape(layer)
    return shape is not None and len(shape) == 4


def is_conv_or_pool(layer) -> bool:
    if not has_maps(layer):
        return False
    return conv_kernel_shape(layer) is not None or "Pooling" in type(layer).__name__


def conv_kernel_shape(layer):
    kernel = getattr(layer, "depthwise_kernel", None)
    if kernel is None:
        kernel = getattr(layer, "kernel", None)
    return tuple(kernel.shape) if kernel is not None and len(kernel.shape) == 4 else None


def find_layers(model, name: str) -> list[LayerRef]:
    """``--layer NAME`` -> the layers it means (one, or several for ``all``)."""
    refs = walk(model)
    if name == "all":
        chosen = [r for r in refs if is_conv_or_pool(r.layer)]
        if not chosen:
            raise ModelError(f"model {model.name!r} has no conv or pooling layers; {shown_layers(refs)}")
        return chosen
    by_path = {r.path: r for r in refs}
    if name in by_path:
        return [by_path[name]]
    inner = [r for r in refs if r.containers and r.name == name]
    if len(inner) == 1:
        return [inner[0]]
    if len(inner) > 1:
        paths = ", ".join(r.path for r in inner)
        raise ModelError(f"layer name {name!r} occurs in several nested models ({paths}); pass the full path")
    wanted = name.lower()
    for r in refs:  # a class name means the first layer of that class
        if wanted in (r.class_name.lower(), snake_case(r.class_name)):
            return [r]
    hint = did_you_mean(name, list(by_path) + [r.name for r in refs])
    raise ModelError(f"no layer {name!r} in model {model.name!r}{hint}; {shown_layers(refs)}")


def last_map_layer(model) -> LayerRef:
    """Grad-CAM's default: the last top-level conv layer or nested backbone (whose output
    is its last feature map), else the last conv layer anywhere. A model without a conv
    layer has no feature map worth weighing (its 4-D outputs are the input, rescaled)."""
    refs = [r for r in walk(model) if has_maps(r.layer)]
    top = [r for r in refs if not r.containers and (conv_kernel_shape(r.layer) or isinstance(r.layer, keras().Model))]
    conv = [r for r in refs if conv_kernel_shape(r.layer)]
    if top or conv:
        return (top or conv)[-1]
    raise ModelError(
        f"model {model.name!r} has no convolutional layer, so Grad-CAM has no feature map to explain "
        "(it would only redraw the input); Grad-CAM is for CNNs: train a config with Conv2D layers"
    )


def drawable(layer) -> bool:
    """Something can be drawn for it: a 4-D output (maps) or weights (histogram, filters)."""
    return has_maps(layer) or bool(layer.weights)


def shown_layers(refs: list[LayerRef], limit: int = 12) -> str:
    """'layers that can be shown: a, b, c; inside resnet50: x, y, ... (175 layers)'.
    Layers nothing can be drawn for (Flatten, Dropout, global pooling) are left out."""
    refs = [r for r in refs if drawable(r.layer)]
    top = [r.path for r in refs if not r.containers]
    text = "layers that can be shown: all, " + ", ".join(top)
    containers = dict.fromkeys(r.containers[-1] for r in refs if r.containers)
    for container in containers:
        inner = [r for r in refs if r.containers and r.containers[-1] is container]
        prefix = inner[0].path.rsplit("/", 1)[0]
        names = ", ".join(r.name for r in inner[:limit]) + (", ..." if len(inner) > limit else "")
        text += f"; inside {prefix} ({len(inner)} layers, use {prefix}/NAME): {names}"
    return text
