"""MixUp and CutMix: mix whole training batches in tf.data (they need pairs of images
and their labels, which a layer inside the model never sees)."""

from __future__ import annotations

from cnnlab.backend import keras, tf



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
    t = tf()
    mixers = mixing_layers(aug, seed)
    chooser = k.random.SeedGenerator(seed + 2)

    def mix(images, labels):
        def apply(layer):
            return lambda: layer({"images": t.cast(images, "float32"), "labels": t.cast(labels, "float32")})

        if len(mixers) == 1:
            out = apply(mixers[0])()
        else:
            out = t.cond(k.random.uniform((), seed=chooser) < 0.5, apply(mixers[0]), apply(mixers[1]))
        return out["images"], out["labels"]

    # Sequential map: parallel calls would race for the layers' random state (unrepeatable runs).
    return ds.map(mix).prefetch(2)  # the input pipeline turned the autotuner off (data.pipeline)
