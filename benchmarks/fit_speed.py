"""Timing shared by flops_benchmark.py, layer_profile.py and gpu_benchmark.py (any Keras
backend): training images/s as model.fit runs it (one fit of 4 epochs over synthetic
batches, the first, tracing or XLA compiling, dropped, the median of the other 3), and
the median time of a compiled function after warm-up calls."""

from __future__ import annotations

import statistics
import time


def median_seconds(run, repeats: int, warmups: int = 3) -> float:
    """Median wall time of `run()` (which must wait for its result) after `warmups` calls."""
    for _ in range(warmups):
        run()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        run()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def targets(y, classes: int, loss: str):
    """Class indices as the config's loss wants them: one-hot rows for categorical_crossentropy."""
    import numpy as np

    return np.eye(classes, dtype="float32")[y] if loss == "categorical_crossentropy" else y


def synthetic(shape, n: int, classes: int, loss: str):
    """n random uint8 images of `shape` and their labels, as `loss` wants them."""
    import numpy as np

    rng = np.random.default_rng(0)
    x = rng.integers(0, 256, (n, *shape), dtype="uint8")
    return x, targets(rng.integers(0, classes, n), classes, loss)


def fit_images_per_second(keras, model, x, y, batch: int, shuffle: bool = True) -> float:
    seconds: list[float] = []

    class Clock(keras.callbacks.Callback):  # epoch ends are where Keras syncs with the device
        def on_epoch_begin(self, epoch, logs=None):
            self.started = time.perf_counter()

        def on_epoch_end(self, epoch, logs=None):
            seconds.append(time.perf_counter() - self.started)

    model.fit(x, y, batch_size=batch, epochs=4, shuffle=shuffle, verbose=0, callbacks=[Clock()])
    return len(x) / statistics.median(seconds[1:])


def compiled_config_model(cfg, batch: int, steps: int, shape=(28, 28, 1), classes: int = 10):
    """(model, x, y): the model `cfg` describes, compiled as cnnlab compiles it, and `steps`
    synthetic batches for it."""
    from cnnlab.model import build_model
    from cnnlab.train.compile import compile_model

    model = build_model(cfg, shape, classes)
    compile_model(model, cfg, steps_per_epoch=steps)
    return (model, *synthetic(shape, batch * steps, classes, cfg.train.loss))


def config_images_per_second(keras, cfg, batch: int, steps: int, shape=(28, 28, 1), classes: int = 10):
    """(images/s, model) for the model `cfg` describes, compiled as cnnlab compiles it."""
    model, x, y = compiled_config_model(cfg, batch, steps, shape, classes)
    return fit_images_per_second(keras, model, x, y, batch), model
