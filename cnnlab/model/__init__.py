"""Build the Keras model a config describes.

Every cnnlab model takes raw pixels (uint8 values 0..255, shape (H, W, C)) and does
its own preprocessing inside, so a saved model needs no extra code to predict. Which
builder runs is a registry: the first whose test accepts the config.

    from cnnlab.model import build_model
    model = build_model(cfg, (28, 28, 1), 10)
"""

from __future__ import annotations

from cnnlab.model.backbones import build_backbone_model
from cnnlab.model.common import check_output, conv_and_pool_layers, outputs_logits
from cnnlab.model.textbook import build_layers_model

# (name, applies to this config?, builder). A new kind of model is one entry.
BUILDERS = [
    ("backbone", lambda cfg: cfg.model.backbone is not None, build_backbone_model),
    ("layers", lambda cfg: True, build_layers_model),
]


def build_model(cfg, input_shape: tuple[int, int, int], num_classes: int):
    """The model for ``cfg``: (N, *input_shape) raw pixels -> (N, num_classes)."""
    builder = next(build for _, applies, build in BUILDERS if applies(cfg))
    return builder(cfg, input_shape, num_classes)


__all__ = ["BUILDERS", "build_model", "check_output", "conv_and_pool_layers", "outputs_logits"]
