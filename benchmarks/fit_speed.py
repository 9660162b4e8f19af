"""Training images/s as model.fit runs it: one fit of 4 epochs over synthetic batches,
the first epoch (tracing or XLA compiling) dropped, the median of the other 3. Shared by
flops_benchmark.py, layer_profile.py and gpu_benchmark.py (any Keras backend)."""

from __future__ import annotations

import statistics
import time


def synthetic(shape, n: int, classes: int, one_hot: bool):
    """n random uint8 images of `shape` and their labels (one-hot for categorical losses)."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, *shape), dtype="uint8")
    y = rng.integers(0, classes, n)
    return x, (np.eye(classes, dtype="float32")[y] if one_hot else y)


def fit_images_per_second(keras, model, x, y, batch: int, shuffle: bool = True) -> float:
    seconds: list[float] = []

    class Clock(keras.callbacks.Callback):  # epoch ends are where Keras syncs with the device
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.started)

    model.fit(x, y, batch_size=batch, epochs=4, shuffle=shuffle, verbose=0, callbacks=[Clock()])
    return len(x) / statistics.median(seconds[1:])


def config_images_per_second(keras, cfg, batch: int, steps: int, shape=(28, 28, 1), classes: int = 10):
    """(images/s, model) for the model `cfg` describes, compiled as cnnlab compiles it."""
    from cnnlab.model import build_model
    from cnnlab.train.compile import compile_model

    model = build_model(cfg, shape, classes)
    compile_model(model, cfg, steps_per_epoch=steps)
    x, y = synthetic(shape, batch * steps, classes, cfg.train.loss == "categorical_crossentropy")
    return fit_images_per_second(keras, model, x, y, batch), model
