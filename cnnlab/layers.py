"""Custom layers, registered so that saved ``.keras`` models load without extra code."""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402


@keras.saving.register_keras_serializable(package="cnnlab")
class MinPooling2D(keras.layers.MaxPooling2D):
    """Minimum over each pooling window (Keras has max and average only).

    min(x) == -max(-x), so this reuses MaxPooling2D's windows, strides and padding;
    with padding="same" the padded cells are -inf for the max, i.e. ignored by the min.
    Same arguments as MaxPooling2D.
    """

    def call(self, inputs):
        return -super().call(-inputs)


CUSTOM_LAYERS = {"MinPooling2D": MinPooling2D}
