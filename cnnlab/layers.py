"""Custom layers, registered so that saved ``.keras`` models load without extra code."""

from __future__ import annotations

import math
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


# ---------------------------------------------------------------- augmentation (cnnlab.augment)
# Two ImageDataGenerator transforms have no faithful Keras layer; these reproduce them.
# Both are identity unless called with training=True, like Keras's Random* layers.


@keras.saving.register_keras_serializable(package="cnnlab")
class RandomShearAngle(keras.layers.Layer):
    """ImageDataGenerator's ``shear_range``: a horizontal shear by an angle s ~ U(-max_degrees,
    max_degrees) about the image centre (cx, cy), sampling  x_in = x - sin(s)·(y - cy),
    y_in = cy + cos(s)·(y - cy). keras.layers.RandomShear differs: its factor is not an angle
    and it shears about the top-left corner, which also shifts the content."""

    def __init__(self, max_degrees, fill_mode="nearest", fill_value=0.0, interpolation="bilinear", seed=None, **kwargs):
        super().__init__(**kwargs)
        self.max_degrees, self.fill_mode, self.fill_value = float(max_degrees), fill_mode, float(fill_value)
        self.interpolation, self.seed = interpolation, seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training:
            return images
        ops = keras.ops
        images = ops.cast(images, self.compute_dtype)  # (N, H, W, C)
        height, width = images.shape[1], images.shape[2]
        max_rad = self.max_degrees * math.pi / 180.0
        angle = keras.random.uniform((ops.shape(images)[0],), -max_rad, max_rad, seed=self.seed_generator)
        sin, cos = ops.sin(angle), ops.cos(angle)
        cy = (height - 1) / 2.0
        zero, one = ops.zeros_like(sin), ops.ones_like(sin)
        # Output (x, y) samples input (a0·x + a1·y + a2, b0·x + b1·y + b2); x is the column.
        transform = ops.stack([one, -sin, sin * cy, zero, cos, cy * (1.0 - cos), zero, zero], axis=1)
        return ops.image.affine_transform(
            images, transform, interpolation=self.interpolation, fill_mode=self.fill_mode, fill_value=self.fill_value
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "max_degrees": self.max_degrees, "fill_mode": self.fill_mode,
                "fill_value": self.fill_value, "interpolation": self.interpolation, "seed": self.seed}  # fmt: skip


@keras.saving.register_keras_serializable(package="cnnlab")
class RandomBrightnessScale(keras.layers.Layer):
    """ImageDataGenerator's ``brightness_range``: multiply each image by b ~ U(lower, upper) and
    clip to 0..255 (what PIL's ImageEnhance.Brightness does to its uint8 images).
    keras.layers.RandomBrightness differs: it adds an offset instead of scaling."""

    def __init__(self, lower, upper, seed=None, **kwargs):
        super().__init__(**kwargs)
        self.lower, self.upper, self.seed = float(lower), float(upper), seed
        self.seed_generator = keras.random.SeedGenerator(seed)

    def call(self, images, training=None):
        if not training:
            return images
        ops = keras.ops
        images = ops.cast(images, self.compute_dtype)
        factor = keras.random.uniform((ops.shape(images)[0], 1, 1, 1), self.lower, self.upper, seed=self.seed_generator)
        return ops.clip(images * factor, 0.0, 255.0)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "lower": self.lower, "upper": self.upper, "seed": self.seed}


# ---------------------------------------------------------------- backbone input adaptation (cnnlab.backbones)
# Layers, not Lambda: a saved backbone model must load in Keras safe mode.


@keras.saving.register_keras_serializable(package="cnnlab")
class ConvertChannels(keras.layers.Layer):
    """Grayscale (N, H, W, 1) -> RGB (N, H, W, 3) by repeating the channel, or RGB -> grayscale
    with the ITU-R 601 luma weights PIL uses; ImageNet bases need 3 channels."""

    def __init__(self, channels, **kwargs):
        super().__init__(**kwargs)
        if channels not in (1, 3):
            raise ValueError(f"channels must be 1 or 3, got {channels}")
        self.channels = int(channels)

    def call(self, images):
        ops = keras.ops
        images = ops.cast(images, self.compute_dtype)
        if images.shape[-1] == self.channels:
            return images
        if self.channels == 3:
            return ops.repeat(images, 3, axis=-1)
        return ops.sum(images * ops.convert_to_tensor([0.299, 0.587, 0.114], self.compute_dtype), axis=-1, keepdims=True)

    def compute_output_shape(self, input_shape):
        return (*input_shape[:-1], self.channels)

    def get_config(self):
        return {**super().get_config(), "channels": self.channels}


@keras.saving.register_keras_serializable(package="cnnlab")
class BackbonePreprocess(keras.layers.Layer):
    """keras.applications.<family>.preprocess_input inside the model, so the weights get the
    input they were trained on ("caffe" BGR minus mean for VGG/ResNet50, [-1, 1] for Xception, ...).
    Only the known families are accepted: a config string never picks an arbitrary function."""

    FAMILIES = ("vgg16", "vgg19", "resnet50", "resnet", "resnet_v2", "xception", "inception_v3",
                "inception_resnet_v2", "mobilenet_v2", "efficientnet", "densenet", "convnext")  # fmt: skip

    def __init__(self, family, **kwargs):
        super().__init__(**kwargs)
        if family not in self.FAMILIES:
            raise ValueError(f"unknown preprocessing family {family!r}; expected one of {', '.join(self.FAMILIES)}")
        self.family = family

    def call(self, images):
        images = keras.ops.cast(images, self.compute_dtype)  # (N, H, W, 3) pixels 0..255
        return getattr(keras.applications, self.family).preprocess_input(images)

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        return {**super().get_config(), "family": self.family}


CUSTOM_LAYERS = {"MinPooling2D": MinPooling2D}
