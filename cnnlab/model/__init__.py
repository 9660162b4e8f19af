"""Build the Keras model a config describes.

Every cnnlab model takes raw pixels (uint8 values 0..255, shape (H, W, C)) and does
its own preprocessing inside, so a saved model needs no extra code to predict. Which
builder runs is a registry: the first whose test accepts the config.

    from cnnlab.model import build_model
    model = build_model(cfg, (28, 28, 1), 10)
"""

from __future__ import annotations

from cnnlab.model.common import check_output, conv_and_pool_layers, outputs_logits
from cnnlab.model.layer_specs import check_model_layers


# The builders import Keras (and cnnlab.layers) when called, not when this package is
# imported: `summary --input` computes shapes from the config without TensorFlow.
def build_backbone_model(cfg, input_shape, num_classes):
    from cnnlab.model.backbones import build_backbone_model as build

    return build(cfg, input_shape, num_classes)


def build_layers_model(cfg, input_shape, num_classes):
    from cnnlab.model.textbook import build_layers_model as build

    return build(cfg, input_shape, num_classes)


# (name, applies to this config?, builder). A new kind of model is one entry.
BUILDERS = [
    ("backbone", lambda cfg: cfg.model.backbone is not None, build_backbone_model),
    ("layers", lambda cfg: True, build_layers_model),
]


def build_model(cfg, input_shape: tuple[int, int, int], num_classes: int):
    """The model for ``cfg``: (N, *input_shape) raw pixels -> (N, num_classes)."""
    builder = next(build for _, applies, build in BUILDERS if applies(cfg))
    return builder(cfg, input_shape, num_classes)


def check_model(cfg) -> None:
    """What the config stage could not check without Keras (layer types and arguments):
    call before reading data, so a typo costs seconds, not a dataset load."""
    check_model_layers(cfg)


__all__ = ["BUILDERS", "build_model", "check_model", "check_output", "conv_and_pool_layers", "outputs_logits"]
