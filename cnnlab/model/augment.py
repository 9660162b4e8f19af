"""Data augmentation in ImageDataGenerator's vocabulary, run as Keras layers inside the model.

The ``augment`` config section takes ImageDataGenerator's arguments with its meanings
and units. They become one block named ``augmentation``, right after the model's
input (raw pixels 0..255) and before ``Rescaling``. Keras runs it only when training
(identity at inference), on the GPU when there is one, and it is saved with the model.

The four geometric arguments are drawn and composed exactly as ImageDataGenerator
does and applied in ONE resample by cnnlab's RandomAffine layer. The Keras layer that
does each alone is listed for reference: chaining those resamples once per layer and
visibly blurs 28x28 images (mean neighbour difference on Fashion-MNIST with
fashion-aug's geometry: originals 40.2, ImageDataGenerator 31.4, RandomAffine 31.4,
RandomRotation -> RandomTranslation -> RandomZoom 25.6).

    ImageDataGenerator argument    meaning, units                         layer here (Keras equivalent alone)
    ----------------------------   ------------------------------------   -------------------------------------------
    rotation_range=r               angle U(-r, r), degrees                RandomAffine (RandomRotation(factor=r/360))
    width_shift_range=f  (f < 1)   shift U(-f, f)·W pixels                RandomAffine (RandomTranslation(0, f))
    height_shift_range=f (f < 1)   shift U(-f, f)·H pixels                RandomAffine (RandomTranslation(f, 0))
    shear_range=s                  horizontal shear angle U(-s, s),       RandomAffine (none: RandomShear's factor is
                                   degrees, about the centre              no angle and shears about a corner)
    zoom_range=z | [lo, hi]        zx, zy ~ U(1-z, 1+z) | U(lo, hi),      RandomAffine (RandomZoom(height_factor=
                                   independently; > 1 zooms OUT           (lo-1, hi-1), width_factor=(lo-1, hi-1)))
    fill_mode, cval                nearest | reflect | wrap | constant    RandomAffine fill_mode, fill_value
    interpolation_order 0 | 1      nearest | bilinear (no splines)        RandomAffine interpolation
    channel_shift_range=c          add U(-c, c), pixel values 0..255      RandomBrightness(c/255, value_range=(0, 255))
                                                                          (clips to 0..255, IDG to the image's min..max)
    horizontal_flip, vertical_flip each with probability 1/2             RandomFlip("horizontal"), RandomFlip("vertical")
    brightness_range=[lo, hi]      multiply by U(lo, hi), clip 0..255     cnnlab RandomBrightnessScale (RandomBrightness
                                                                          adds an offset instead)
    -- beyond ImageDataGenerator --
    contrast=c                     contrast × U(1-c, 1+c)                 RandomContrast(c, value_range=(0, 255))
    random_erasing=p               erase a random patch with prob. p      RandomErasing(factor=(p, p)); factor=p would
                                                                          draw the probability from U(0, p)
    mixup_alpha=a                  Beta(a, a) blend of image pairs        MixUp(alpha=a), in tf.data, training batches
    cutmix_alpha=a                 Beta(a, a) patch swap, a <= 1          CutMix(factor=(a, a)), in tf.data
                                   (both: labels become soft; need train.loss: categorical_crossentropy)

One difference from ImageDataGenerator as shipped in Keras 3 (keras.src.legacy): its
matrix code swaps the axes of the two shifts (height_shift_range moves images sideways)
and, for non-square images, of the centre; cnnlab follows the documented meaning.
featurewise/samplewise normalisation, ZCA, rescale and preprocessing_function are not
augmentation; the config refuses them with the reason (AugmentConfig.REFUSED_KEYS).
MixUp/CutMix mix whole batches, so they live in the data pipeline (cnnlab.data.mixing).
"""

from __future__ import annotations

from cnnlab.backend import keras
from cnnlab.layers import RandomAffine, RandomBrightnessScale

BLOCK_NAME = "augmentation"


def augmentation_layers(aug, seed: int = 0) -> list:
    """The Keras layers for the in-model options of ``aug`` (an AugmentConfig), in order."""
    k = keras()
    out = []

    def add(cls, *args, **kwargs):  # distinct seeds: layers must not draw correlated numbers
        out.append(cls(*args, seed=seed + len(out), dtype="float32", **kwargs))

    zoom_lower, zoom_upper = zoom_bounds(aug)
    if aug.rotation_range or aug.width_shift_range or aug.height_shift_range or aug.shear_range or (
        (zoom_lower, zoom_upper) != (1.0, 1.0)
    ):
        add(RandomAffine, aug.rotation_range, aug.width_shift_range, aug.height_shift_range, aug.shear_range,
            zoom_lower, zoom_upper, fill_mode=aug.fill_mode, fill_value=aug.cval,
            interpolation="bilinear" if aug.interpolation_order == 1 else "nearest", name="affine")  # fmt: skip
    if aug.channel_shift_range:
        add(k.layers.RandomBrightness, aug.channel_shift_range / 255.0, value_range=(0, 255), name="channel_shift")
    if aug.horizontal_flip:
        add(k.layers.RandomFlip, "horizontal", name="horizontal_flip")
    if aug.vertical_flip:
        add(k.layers.RandomFlip, "vertical", name="vertical_flip")
    if aug.brightness_range is not None and tuple(aug.brightness_range) != (1.0, 1.0):
        add(RandomBrightnessScale, *aug.brightness_range, name="brightness")
    if aug.contrast:
        add(k.layers.RandomContrast, aug.contrast, value_range=(0, 255), name="contrast")
    if aug.random_erasing:
        p = aug.random_erasing
        add(k.layers.RandomErasing, (p, p), value_range=(0, 255), name="random_erasing")
    return out


def zoom_bounds(aug) -> tuple[float, float]:
    """ImageDataGenerator's rule: a float z means [1 - z, 1 + z]; a pair is taken as is."""
    z = aug.zoom_range
    return (1.0 - z, 1.0 + z) if isinstance(z, (int, float)) else (float(z[0]), float(z[1]))


def augmentation_block(aug, seed: int = 0):
    """A Sequential named "augmentation", or None when no in-model option is set."""
    layers = augmentation_layers(aug, seed)
    return keras().Sequential(layers, name=BLOCK_NAME) if layers else None


def augment_inputs(x, aug, seed: int = 0):
    """The model-building hook: x (N, H, W, C) raw pixels -> augmented in training, x otherwise."""
    block = augmentation_block(aug, seed)
    return block(x) if block is not None else x
