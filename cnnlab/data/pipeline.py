"""The tf.data input pipeline: batches of uint8 images and labels, shuffled with a seed."""

from __future__ import annotations

import numpy as np

from cnnlab.backend import tf as _tf



def make_pipeline(x: np.ndarray, y: np.ndarray, batch_size: int, *, shuffle: bool, seed: int, one_hot: int = 0):
    """Batches of (uint8 images, labels). Shuffles indices and gathers whole batches:
    one vectorised op per batch instead of per image, so the input pipeline stays far
    ahead of a CPU's training step."""
    tf = _tf()
    images, labels = tf.constant(x), tf.constant(y)
    ds = tf.data.Dataset.range(len(x))
    if shuffle:
        ds = ds.shuffle(len(x), seed=seed, reshuffle_each_iteration=True)
    ds = ds.batch(batch_size)

    def gather(idx):
        batch_y = tf.gather(labels, idx)
        if one_hot:
            batch_y = tf.one_hot(batch_y, one_hot)
        return tf.gather(images, idx), batch_y

    return ds.map(gather, num_parallel_calls=tf.data.AUTOTUNE).prefetch(tf.data.AUTOTUNE)
