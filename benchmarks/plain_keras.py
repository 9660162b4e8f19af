"""The hand-written baseline: the textbook Fashion-MNIST script, as a user would write it
without cnnlab (NumPy arrays into model.fit, batch 32). Used by train_benchmark.py.

    python benchmarks/plain_keras.py --epochs 3 [--limit N] [--early-stopping] [--no-autotune]

--no-autotune: the same script with tf.data's autotuner off in the pipeline Keras makes
from the arrays, as cnnlab's pipelines have it (not what a user writes: it separates what
the autotuner costs from the rest of cnnlab's lead).

Prints one JSON line: per-epoch seconds, test accuracy, train images.
"""

from __future__ import annotations

import argparse
import gzip
import json
import os
import time
from pathlib import Path

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
import keras  # noqa: E402

DATA = Path(os.environ.get("FASHION_DIR", "/usr/share/datasets/fashion-mnist"))


def read_idx(name: str, offset: int) -> np.ndarray:
    with gzip.open(DATA / name, "rb") as f:
        return np.frombuffer(f.read(), np.uint8, offset=offset)


def autotune_off():
    """Give every dataset Keras's array adapter makes cnnlab's pipeline options (autotuner
    off: cnnlab.data.pipeline.without_autotune). Keras internals: a benchmark-only patch."""
    from keras.src.trainers.data_adapters.array_data_adapter import ArrayDataAdapter

    from cnnlab.data.pipeline import without_autotune

    made = ArrayDataAdapter.get_tf_dataset
    ArrayDataAdapter.get_tf_dataset = lambda self: without_autotune(made(self))


def main():
    parser = argparse.ArgumentParser()
    parser.add_argument("--epochs", type=int, default=3)
    parser.add_argument("--limit", type=int, default=None)
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--early-stopping", action="store_true")
    parser.add_argument("--no-autotune", action="store_true")
    args = parser.parse_args()
    if args.no_autotune:
        autotune_off()
    keras.utils.set_random_seed(42)

    x = read_idx("train-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28, 1).astype("float32") / 255
    y = read_idx("train-labels-idx1-ubyte.gz", 8).astype("int64")
    x_test = read_idx("t10k-images-idx3-ubyte.gz", 16).reshape(-1, 28, 28, 1).astype("float32") / 255
    y_test = read_idx("t10k-labels-idx1-ubyte.gz", 8).astype("int64")
    order = np.random.default_rng(42).permutation(len(x))[: args.limit]
    if args.limit:
        x_test, y_test = x_test[: args.limit], y_test[: args.limit]
    n_val = int(round(len(order) * 0.2))  # the textbook's 80/20 split
    x_train, y_train, x_val, y_val = x[order[n_val:]], y[order[n_val:]], x[order[:n_val]], y[order[:n_val]]

    model = keras.Sequential([
        keras.Input((28, 28, 1)),
        keras.layers.Conv2D(32, 3, activation="relu", padding="same"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Conv2D(64, 3, activation="relu", padding="same"),
        keras.layers.MaxPooling2D(2),
        keras.layers.Flatten(),
        keras.layers.Dense(100, activation="relu"),
        keras.layers.Dropout(0.4),
        keras.layers.Dense(10, activation="softmax"),
    ])  # fmt: skip
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", metrics=["accuracy"])

    epoch_seconds = []

    class Timer(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            epoch_seconds.append(time.perf_counter() - self.started)

    callbacks = [Timer()]
    if args.early_stopping:
        callbacks.append(keras.callbacks.EarlyStopping(monitor="val_loss", patience=2, restore_best_weights=True))
    model.fit(x_train, y_train, batch_size=args.batch_size, epochs=args.epochs,
              validation_data=(x_val, y_val), callbacks=callbacks, verbose=0)  # fmt: skip
    _, accuracy = model.evaluate(x_test, y_test, verbose=0)
    print(json.dumps({"epoch_seconds": epoch_seconds, "test_accuracy": float(accuracy), "train_images": len(x_train)}))


if __name__ == "__main__":
    main()
