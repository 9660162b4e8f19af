"""The layer-list model: ``model.layers`` of the config, after the input adaptation
every cnnlab model shares.

    image (H, W, C) -> [augmentation, training only] -> Rescaling(1/255) -> model.layers
"""

from __future__ import annotations

from cnnlab.backend import keras
from cnnlab.model.layer_specs import make_layers
from cnnlab.errors import ConfigError, first_line
from cnnlab.model.augment import augment_inputs
from cnnlab.model.common import _shape, check_output


def build_layers_model(cfg, input_shape: tuple[int, int, int], num_classes: int):
    k = keras()
    # An explicit Input: a Sequential model has no defined input until it is called.
    inputs = k.Input(shape=input_shape, name="image")  # (N, H, W, C) raw pixels
    x = augment_inputs(inputs, cfg.augment, cfg.seed)  # training only; no layer when augment is off
    x = k.layers.Rescaling(1.0 / 255, name="rescaling")(x)  # -> [0, 1]
    for i, layer in enumerate(make_layers(cfg.model.layers)):
        try:
            x = layer(x)
        except Exception as exc:
            raise ConfigError(
                f"model.layers[{i}] ({type(layer).__name__}) cannot take input of shape {_shape(x)}: {first_line(exc)}"
            ) from None
    check_output(x, num_classes, len(cfg.model.layers))
    return k.Model(inputs, x, name=cfg.name)
