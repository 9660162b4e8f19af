"""Run as one worker of a 2-worker cluster (TF_CONFIG set by the test): does Keras's
own ``model.fit`` work under MultiWorkerMirroredStrategy, and with which of
cnnlab.train.keras_patches' two fixes? Prints one JSON line:
{"keras": version, "unpatched": error or "ok", "fix1_only": error or "ok", "patched": error or "ok"}.

Each failure happens while Keras builds or traces, before any collective op runs, so
both workers can go on to the next attempt in step."""

import json

import numpy as np
import tensorflow as tf

strategy = tf.distribute.MultiWorkerMirroredStrategy()  # first: collective ops are set up at start-up

import keras
from keras.src.backend.tensorflow import trainer

from cnnlab.train import keras_patches

rng = np.random.default_rng(0)
x = rng.integers(0, 255, (64, 8, 8, 1)).astype("uint8")
y = rng.integers(0, 3, 64)
ds = tf.data.Dataset.from_tensor_slices((x, y)).batch(16)
original_reduce = trainer.reduce_per_replica


def attempt() -> str:
    keras.utils.set_random_seed(1)
    with strategy.scope():
        model = keras.Sequential([keras.Input((8, 8, 1)), keras.layers.Rescaling(1 / 255), keras.layers.Flatten(),
                                  keras.layers.Dense(3, activation="softmax")])  # fmt: skip
        model.compile("adam", "sparse_categorical_crossentropy", metrics=["accuracy"])
    try:
        model.fit(ds, epochs=1, verbose=0)
    except Exception as exc:  # noqa: BLE001  the probe reports whatever Keras raises
        return f"{type(exc).__name__}: {str(exc).splitlines()[0][:200]}"
    return "ok"


result = {"keras": keras.__version__, "unpatched": attempt()}
keras_patches.apply(force=True)
patched_reduce = trainer.reduce_per_replica
trainer.reduce_per_replica = original_reduce  # fix 1 (symbolic build) alone
result["fix1_only"] = attempt()
trainer.reduce_per_replica = patched_reduce
result["patched"] = attempt()
print(json.dumps(result), flush=True)
