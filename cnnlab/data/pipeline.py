"""The tf.data input pipeline: batches of uint8 images and labels, shuffled with a seed.

One interface for both kinds of split: an in-memory array (Fashion-MNIST, MNIST, npz,
small folders) or a FileSplit (image folders streamed from disk). Both shuffle the
same way, indices with `seed` and `reshuffle_each_iteration`, so a run's batch order
is the same streamed or in memory, and resume (which counts iterators) stays exact."""

from __future__ import annotations

import numpy as np

from cnnlab.backend import tf as _tf
from cnnlab.data.files import FileSplit

# Batch for forward-only passes (validation, evaluation, predict): there the batch size
# changes no result, only the per-step overhead (12,000 images are 375 steps at batch 32,
# 47 at 256).
EVAL_BATCH = 256


def without_autotune(ds):
    """tf.data's autotuner runs a model thread per iterator, and Keras makes a new iterator
    every epoch; joining the old one's thread stalled training for 2-6 s in about half the
    epochs (2 cores: 6 epochs of 12,000 images took 23-25 s with it, 18 s without, each
    epoch the same 2.8 s). AUTOTUNE parallelism then means one call per core."""
    options = _tf().data.Options()
    options.autotune.enabled = False
    return ds.with_options(options)


def make_pipeline(x, y: np.ndarray, batch_size: int, *, shuffle: bool, seed: int, one_hot: int = 0):
    """Batches of (uint8 images, labels), from an array or a FileSplit."""
    tf = _tf()
    labels = tf.constant(np.asarray(y))
    ds = tf.data.Dataset.range(len(x))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)

    def label(idx):
        batch_y = tf.gather(labels, idx)
        return tf.one_hot(batch_y, one_hot) if one_hot else batch_y

    if isinstance(x, FileSplit):
        # One file per element, read and decoded in parallel (PIL releases the GIL);
        # map keeps the order, so batches match the in-memory pipeline's.
        ds = ds.map(lambda i: (file_image(x, i), label(i)), num_parallel_calls=tf.data.AUTOTUNE)
        return without_autotune(ds.batch(batch_size).prefetch(2))
    # Arrays: gather whole batches, one vectorised op per batch instead of per image.
    images = tf.constant(x)
    ds = ds.batch(batch_size)
    ds = ds.map(lambda idx: (tf.gather(images, idx), label(idx)), num_parallel_calls=tf.data.AUTOTUNE)
    return without_autotune(ds.prefetch(2))


def fit_pipelines(x_train, y_train, x_val, y_val, batch_size: int, *, seed: int, one_hot: int = 0):
    """(training batches, validation batches or None) for model.fit. Training batches have
    the config's size (it is part of the recipe); validation ones at least EVAL_BATCH."""
    train = make_pipeline(x_train, y_train, batch_size, shuffle=True, seed=seed, one_hot=one_hot)
    if not len(x_val):
        return train, None
    val = make_pipeline(x_val, y_val, max(batch_size, EVAL_BATCH), shuffle=False, seed=seed, one_hot=one_hot)
    return train, val


def file_image(split: FileSplit, index):
    """Image `index` of `split` through the shared PIL decoder (cnnlab.data.images)."""
    tf = _tf()
    image = tf.numpy_function(lambda i: split.read(int(i)), [index], tf.uint8, stateful=False)
    image.set_shape(split.shape[1:])
    return image


def model_input(x, batch_size: int):
    """What model.predict takes for `x`: the array itself, or batches of a FileSplit's images."""
    if not isinstance(x, FileSplit):
        return x
    tf = _tf()
    ds = tf.data.Dataset.range(len(x)).map(lambda i: file_image(x, i), num_parallel_calls=tf.data.AUTOTUNE)
    return without_autotune(ds.batch(batch_size).prefetch(2))
