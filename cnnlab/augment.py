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
"""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab.backend import keras
from cnnlab.errors import ConfigError

BLOCK_NAME = "augmentation"


def augmentation_layers(aug, seed: int = 0) -> list:
    """The Keras layers for the in-model options of ``aug`` (an AugmentConfig), in order."""
    k = keras()
    from cnnlab.layers import RandomAffine, RandomBrightnessScale

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


# ---------------------------------------------------------------- MixUp / CutMix (tf.data)


def mixing_layers(aug, seed: int = 0) -> list:
    """Keras's MixUp and/or CutMix for ``aug``; Beta(a, a) mixing weights for both."""
    k = keras()
    mixers = []
    if aug.mixup_alpha:
        mixers.append(k.layers.MixUp(alpha=aug.mixup_alpha, seed=seed))
    if aug.cutmix_alpha:  # CutMix draws its alpha from U(factor): a fixed alpha is (a, a)
        mixers.append(k.layers.CutMix(factor=(aug.cutmix_alpha, aug.cutmix_alpha), seed=seed + 1))
    return mixers


def mix_batches(ds, aug, seed: int = 0):
    """Mix whole training batches (images, one-hot labels) with MixUp and/or CutMix; with
    both, each batch gets one of the two at random. Returns ``ds`` unchanged when off.
    Mixed labels are soft, so they sum to 1 and need a categorical loss."""
    if not aug.mixes_labels:
        return ds
    k = keras()
    from cnnlab.backend import tf as _tf

    tf = _tf()
    mixers = mixing_layers(aug, seed)
    chooser = k.random.SeedGenerator(seed + 2)

    def mix(images, labels):
        def apply(layer):
            return lambda: layer({"images": tf.cast(images, "float32"), "labels": tf.cast(labels, "float32")})

        if len(mixers) == 1:
            out = apply(mixers[0])()
        else:
            out = tf.cond(k.random.uniform((), seed=chooser) < 0.5, apply(mixers[0]), apply(mixers[1]))
        return out["images"], out["labels"]

    # Sequential map: parallel calls would race for the layers' random state (unrepeatable runs).
    return ds.map(mix).prefetch(tf.data.AUTOTUNE)


# ---------------------------------------------------------------- preview


def augment_preview(image: np.ndarray, aug, count: int, seed: int) -> np.ndarray:
    """``count`` augmented versions of one image (H, W, C) uint8 -> (count, H, W, C) float32."""
    batch = np.repeat(image[None], count, axis=0).astype("float32")
    block = augmentation_block(aug, seed)
    return batch if block is None else keras().ops.convert_to_numpy(block(batch, training=True))


def mix_preview(images: np.ndarray, partners: np.ndarray, aug, seed: int):
    """Mix images[i] with partners[i] the way training batches are mixed (the same Keras
    layers, alternating MixUp and CutMix when both are set) -> (mixed images, weight of
    images[i] in each mixed label)."""
    k = keras()
    n = len(images)
    batch = np.concatenate([images, partners]).astype("float32")
    labels = np.concatenate([np.eye(2, dtype="float32")[[0] * n], np.eye(2, dtype="float32")[[1] * n]])
    order = np.concatenate([np.arange(n, 2 * n), np.arange(n)])  # pair i with partner i
    mixed, weights = np.empty_like(images, dtype="float32"), np.empty(n)
    layers = mixing_layers(aug, seed)
    for j, layer in enumerate(layers):
        data = {"images": k.ops.convert_to_tensor(batch), "labels": k.ops.convert_to_tensor(labels)}
        t = layer.get_random_transformation(data, training=True)
        t["permutation_order"] = k.ops.convert_to_tensor(order, "int32")  # Keras draws a random one
        images_out = k.ops.convert_to_numpy(layer.transform_images(data["images"], t, training=True))
        labels_out = k.ops.convert_to_numpy(layer.transform_labels(data["labels"], t, training=True))
        chosen = np.arange(n) % len(layers) == j
        mixed[chosen], weights[chosen] = images_out[:n][chosen], labels_out[:n, 0][chosen]
    return mixed, weights


def write_preview(cfg, output_dir: Path, index: int = 0, count: int = 16, seed: int | None = None) -> Path:
    """Draw training image ``index`` and ``count`` augmented versions (original first) to
    <output_dir>/<name>/augment-preview.png, and return that path."""
    from cnnlab import runs
    from cnnlab.data import load_dataset
    from cnnlab.plots import image_grid

    aug = cfg.augment
    if augmentation_block(aug) is None and not aug.mixes_labels:
        raise ConfigError(
            "augment: no augmentation is set, so there is nothing to preview; "
            "set some, e.g. --set augment.rotation_range=15 --set augment.horizontal_flip=true"
        )
    runs.check_writable(output_dir)
    data = load_dataset(cfg.data, cfg.seed)
    if not 0 <= index < len(data.x_train):
        raise ConfigError(f"--index {index} is out of range; the training split has images 0 to {len(data.x_train) - 1}")
    seed = cfg.seed if seed is None else seed
    names = data.class_names
    original, label = data.x_train[index], names[int(data.y_train[index])]
    versions = augment_preview(original, aug, count, seed)
    titles = [f"augmented {i + 1}" for i in range(count)]
    if aug.mixes_labels:  # partners: other training images, augmented the same way
        others = np.delete(np.arange(len(data.x_train)), index) if len(data.x_train) > 1 else [index]
        picks = np.random.default_rng(seed).choice(others, count)
        partners, block = data.x_train[picks].astype("float32"), augmentation_block(aug, seed + 1)
        if block is not None:
            partners = keras().ops.convert_to_numpy(block(partners, training=True))
        versions, weights = mix_preview(versions, partners, aug, seed)
        titles = [f"{w:.2f} {label}\n+ {1 - w:.2f} {names[int(data.y_train[p])]}" for w, p in zip(weights, picks)]
    shown = np.clip(np.round(versions), 0, 255).astype(np.uint8)
    fig = image_grid([original, *shown], ["original"] + titles, suptitle=f"{cfg.name}: training image {index} ({label})")
    return runs.save_figure(fig, Path(output_dir) / cfg.name / "augment-preview.png")
