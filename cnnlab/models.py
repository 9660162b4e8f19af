"""Build the Keras model a config describes.

Every cnnlab model takes raw pixels (uint8 values 0..255, shape (H, W, C)) and does
its own preprocessing inside, so a saved model needs no extra code to predict:

    image (H, W, C) -> [augmentation, training only] -> Rescaling(1/255) -> model.layers
"""

from __future__ import annotations

from cnnlab.augment import augment_inputs
from cnnlab.backend import keras
from cnnlab.errors import ConfigError
from cnnlab.layer_specs import make_layers


def build_model(cfg, input_shape: tuple[int, int, int], num_classes: int):
    if cfg.model.backbone is not None:  # a pretrained base + head: cnnlab.backbones
        from cnnlab.backbones import build_backbone_model

        return build_backbone_model(cfg, input_shape, num_classes)
    k = keras()
    # An explicit Input: a Sequential model has no defined input until it is called.
    inputs = k.Input(shape=input_shape, name="image")  # (N, H, W, C) raw pixels
    x = augment_inputs(inputs, cfg.augment, cfg.seed)  # training only; no layer when augment is off
    x = k.layers.Rescaling(1.0 / 255, name="rescaling")(x)  # -> [0, 1]
    for i, layer in enumerate(make_layers(cfg.model.layers)):
        try:
            x = layer(x)
        except Exception as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(
                f"model.layers[{i}] ({type(layer).__name__}) cannot take input of shape {_shape(x)}: {text}"
            ) from None
    check_output(x, num_classes, len(cfg.model.layers))
    return k.Model(inputs, x, name=cfg.name)


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
    from cnnlab.summary import shape_text

    return shape_text(x.shape)
