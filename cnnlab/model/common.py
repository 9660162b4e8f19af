"""Helpers every model builder and inspector shares: the output check, logits or
softmax, and which layers produce feature maps."""

from __future__ import annotations

from cnnlab.backend import keras
from cnnlab.errors import ConfigError
from cnnlab.model.summary import shape_text


def check_output(x, num_classes: int, n_layers: int, path: str = "model.layers") -> None:
    """The last layer must produce one score per class: (None, num_classes)."""
    shape = tuple(x.shape)
    if len(shape) != 2:
        raise ConfigError(
            f"{path}: the last layer outputs shape {_shape(x)}, but a classifier needs (None, {num_classes}); "
            "add Flatten (or GlobalAveragePooling2D) and a Dense layer"
        )
    if shape[1] != num_classes:
        raise ConfigError(
            f"{path}[{n_layers - 1}]: outputs {shape[1]} values but the dataset has {num_classes} classes; "
            f"set its units to {num_classes}"
        )


def outputs_logits(model) -> bool:
    """True when the last layer has no softmax, i.e. the model returns logits."""
    activation = getattr(model.layers[-1], "activation", None)
    return getattr(activation, "__name__", "") != "softmax"


def conv_and_pool_layers(model) -> list:
    """The layers whose output is a 4-D feature map, in model order."""
    return [layer for layer in model.layers if _is_4d(layer)]


def _is_4d(layer) -> bool:
    try:
        return len(layer.output.shape) == 4 and not isinstance(layer, keras().layers.InputLayer)
    except (AttributeError, ValueError):
        return False


def _shape(x) -> str:
    return shape_text(x.shape)
