"""Images/s of cnnlab's in-model augmentation vs the legacy ImageDataGenerator flow.

Same settings (the lecture's ImageDataGenerator call by default), same Fashion-MNIST
images, same batch size. Each side is timed over ``--images`` images, ``--repeats``
times (interleaved) after one warm-up pass; the median is reported. Not a test: run it by hand.

    python benchmarks/augment_throughput.py [--images 8192] [--batch-size 64] [--repeats 5] [--image-size 28]

Keras 3 dropped ``keras.preprocessing.image.ImageDataGenerator`` from its public API; the
class survives as ``keras.src.legacy.preprocessing.image.ImageDataGenerator`` (what
``tf.keras.preprocessing.image.ImageDataGenerator`` returns in TF 2.16+), used here.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import numpy as np  # noqa: E402

# The lecture's call: ImageDataGenerator(rotation_range=40, width_shift_range=0.2, ...).
SETTINGS = dict(
    rotation_range=40,
    width_shift_range=0.2,
    height_shift_range=0.2,
    shear_range=0.2,  # degrees in ImageDataGenerator, so a barely visible shear
    zoom_range=0.2,
    horizontal_flip=True,
    fill_mode="nearest",
)


def load_images(n: int, size: int) -> np.ndarray:
    from cnnlab.config import DataConfig
    from cnnlab.data import load_dataset

    data = load_dataset(DataConfig(source="fashion_mnist", limit=n, validation_split=0.0), seed=0)
    x = data.x_train[:n]  # (n, 28, 28, 1) uint8
    if size != x.shape[1]:
        import tensorflow as tf

        x = tf.image.resize(x, (size, size)).numpy().round().clip(0, 255).astype(np.uint8)
    return x


def clock() -> tuple[float, float]:
    """(wall seconds, CPU seconds of all this process's threads)."""
    return time.perf_counter(), time.process_time()


def since(start: tuple[float, float]) -> tuple[float, float]:
    now = clock()
    return now[0] - start[0], now[1] - start[1]


def time_legacy(x: np.ndarray, batch: int) -> tuple[float, float]:
    """(wall, CPU) seconds for one pass of ImageDataGenerator(...).flow over x (NumPy/SciPy, per image)."""
    from keras.src.legacy.preprocessing.image import ImageDataGenerator

    flow = ImageDataGenerator(**SETTINGS).flow(x.astype("float32"), batch_size=batch, shuffle=True, seed=0)
    started = clock()
    for i in range(len(flow)):
        flow[i]
    return since(started)


def make_in_model_pass(x: np.ndarray, batch: int):
    """A function timing one pass of the augmentation block as Keras runs it in training:
    inside a compiled tf.function, fed by cnnlab's own tf.data pipeline."""
    import tensorflow as tf

    from cnnlab.augment import augmentation_block
    from cnnlab.config import AugmentConfig
    from cnnlab.data import make_pipeline

    block = augmentation_block(AugmentConfig(**SETTINGS), seed=0)
    ds = make_pipeline(x, np.zeros(len(x), np.int64), batch, shuffle=True, seed=0)

    @tf.function
    def step(images):
        return tf.reduce_sum(block(tf.cast(images, "float32"), training=True))

    def one_pass() -> tuple[float, float]:
        started = clock()
        total = 0.0
        for images, _ in ds:
            total = step(images)
        float(total)  # wait for the last batch
        return since(started)

    return one_pass


def measure(runs: dict, n: int, repeats: int) -> dict[str, list[tuple[float, float]]]:
    """(images per wall second, images per CPU second) per repeat for each named pass.
    Repeats interleave the passes, so a busy shared machine slows both sides alike; the
    CPU-second figure hardly depends on what else the machine is doing."""
    for run in runs.values():
        run()  # warm-up: tracing, thread pools, caches
    rates: dict[str, list[tuple[float, float]]] = {name: [] for name in runs}
    for _ in range(repeats):
        for name, run in runs.items():
            wall, cpu = run()
            rates[name].append((n / wall, n / cpu))
    return rates


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--images", type=int, default=8192)
    parser.add_argument("--batch-size", type=int, default=64)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--image-size", type=int, default=28, help="resize Fashion-MNIST to this square size")
    args = parser.parse_args()

    import tensorflow as tf

    x = load_images(args.images, args.image_size)
    device = "GPU" if tf.config.list_physical_devices("GPU") else f"CPU ({os.cpu_count()} cores)"
    print(f"{len(x)} Fashion-MNIST images {x.shape[1:]} , batch {args.batch_size}, {args.repeats} repeats, {device}")
    print(f"settings: {SETTINGS}")
    rates = measure(
        {
            "legacy ImageDataGenerator.flow": lambda: time_legacy(x, args.batch_size),
            "cnnlab in-model layers": make_in_model_pass(x, args.batch_size),
        },
        len(x),
        args.repeats,
    )
    wall = {name: statistics.median(w for w, _ in r) for name, r in rates.items()}
    cpu = {name: statistics.median(c for _, c in r) for name, r in rates.items()}
    for name, r in rates.items():
        runs = ", ".join(f"{w:,.0f}" for w, _ in r)
        print(f"{name:<31}: {wall[name]:>9,.0f} images/s, {cpu[name]:>9,.0f} images/CPU-s  (medians; runs: {runs})")
    (legacy, layers), (legacy_cpu, layers_cpu) = wall.values(), cpu.values()
    print(f"{'ratio in-model / legacy':<31}: {layers / legacy:>9.1f}x per second, {layers_cpu / legacy_cpu:.1f}x per CPU-second")


if __name__ == "__main__":
    main()
