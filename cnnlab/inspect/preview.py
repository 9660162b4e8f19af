"""``cnnlab augment``: a preview grid of one training image and its augmented versions
(MixUp/CutMix partners included), drawn with the model's own augmentation block."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from cnnlab import runs
from cnnlab.backend import keras
from cnnlab.data import load_dataset
from cnnlab.data.mixing import mixing_layers
from cnnlab.errors import ConfigError, printable
from cnnlab.model.augment import augmentation_block
from cnnlab.plots import image_grid



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
    names = [printable(name) for name in data.class_names]  # image_grid keeps the titles' own line breaks
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
    return runs.save_figure(fig, runs.inside(output_dir, cfg.name) / runs.RunDir.AUGMENT_PREVIEW)
