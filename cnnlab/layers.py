"""Custom layers, registered so that saved ``.keras`` models load without extra code."""

from __future__ import annotations

import math

from cnnlab.backend import keras as _keras

keras = _keras()


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
# ImageDataGenerator transforms that no Keras layer reproduces faithfully. Both are the
# identity unless called with training=True, like Keras's Random* layers.


@keras.saving.register_keras_serializable(package="cnnlab")
class RandomAffine(keras.layers.Layer):
    """ImageDataGenerator's geometric augmentation in ONE resample, as it does it.

    Per image it draws, with ImageDataGenerator's distributions and units: a rotation
    angle U(-rotation_range, rotation_range) degrees, shifts U(-f, f)·W and U(-f, f)·H
    pixels, a horizontal shear angle U(-shear_range, shear_range) degrees, and zooms
    zx, zy ~ U(zoom_lower, zoom_upper) each (> 1 zooms out). Output pixel p samples the
    input at  c + R·(T + S·Z·(p - c))  (c: the image centre), i.e. ImageDataGenerator's
    matrix product rotation·shift·shear·zoom. Chaining RandomRotation, RandomTranslation,
    RandomZoom and keras.layers.RandomShear instead would resample (and blur) the image
    once per layer, and RandomShear's factor is no angle and shears about a corner.
    """

    def __init__(self, rotation_range=0.0, width_shift_range=0.0, height_shift_range=0.0, shear_range=0.0,
                 zoom_lower=1.0, zoom_upper=1.0, fill_mode="nearest", fill_value=0.0, interpolation="bilinear",
                 seed=None, **kwargs):  # fmt: skip
        super().__init__(**kwargs)
        self.rotation_range, self.shear_range = float(rotation_range), float(shear_range)
        self.width_shift_range, self.height_shift_range = float(width_shift_range), float(height_shift_range)
        self.zoom_lower, self.zoom_upper = float(zoom_lower), float(zoom_upper)
        self.fill_mode, self.fill_value, self.interpolation, self.seed = fill_mode, float(fill_value), interpolation, seed
        self.seed_generator = keras.random.SeedGenerator(seed)
        # TensorFlow's XLA cannot compile its projective-transform op: Keras then compiles
        # the model without XLA instead of failing. JAX's affine transform compiles.
        self.supports_jit = keras.backend.backend() != "tensorflow"

    def call(self, images, training=None):
        if not training:
            return images
        ops = keras.ops
        images = ops.cast(images, self.compute_dtype)  # (N, H, W, C)
        height, width = images.shape[1], images.shape[2]
        n = ops.shape(images)[0]

        def uniform(low, high):
            return keras.random.uniform((n,), low, high, seed=self.seed_generator)

        rad = math.pi / 180.0
        theta = uniform(-self.rotation_range * rad, self.rotation_range * rad)
        shear = uniform(-self.shear_range * rad, self.shear_range * rad)
        tx = uniform(-self.width_shift_range, self.width_shift_range) * width
        ty = uniform(-self.height_shift_range, self.height_shift_range) * height
        zx, zy = uniform(self.zoom_lower, self.zoom_upper), uniform(self.zoom_lower, self.zoom_upper)
        cos, sin = ops.cos(theta), ops.sin(theta)
        # A = R·S·Z = [[cos·zx, -zy·sin(θ+shear)], [sin·zx, zy·cos(θ+shear)]]; x is the column.
        a00, a01 = cos * zx, -zy * ops.sin(theta + shear)
        a10, a11 = sin * zx, zy * ops.cos(theta + shear)
        cx, cy = (width - 1) / 2.0, (height - 1) / 2.0
        shift_x, shift_y = cos * tx - sin * ty, sin * tx + cos * ty  # R·T
        zero = ops.zeros_like(theta)
        transform = ops.stack(
            [a00, a01, cx - a00 * cx - a01 * cy + shift_x, a10, a11, cy - a10 * cx - a11 * cy + shift_y, zero, zero],
            axis=1,
        )  # (N, 8): output (x, y) samples input (a0·x + a1·y + a2, b0·x + b1·y + b2)
        return ops.image.affine_transform(
            images, transform, interpolation=self.interpolation, fill_mode=self.fill_mode, fill_value=self.fill_value
        )

    def compute_output_shape(self, input_shape):
        return input_shape

    def get_config(self):
        names = ["rotation_range", "width_shift_range", "height_shift_range", "shear_range", "zoom_lower",
                 "zoom_upper", "fill_mode", "fill_value", "interpolation", "seed"]  # fmt: skip
        return {**super().get_config(), **{name: getattr(self, name) for name in names}}


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
