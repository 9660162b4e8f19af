"""Lazy, quiet import of TensorFlow/Keras, and device facts.

Stage modules call ``keras()`` instead of importing at module level, so that
``cnnlab --help`` and config validation errors never wait for TensorFlow.
"""

from __future__ import annotations

import functools
import os


@functools.cache
def keras():
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")  # hide C++ INFO/WARNING start-up noise
    import keras as _keras  # noqa: PLC0415

    import cnnlab.layers  # noqa: F401  registers custom layers for (de)serialisation

    return _keras


@functools.cache
def tf():
    keras()
    import tensorflow as _tf  # noqa: PLC0415

    return _tf


@functools.cache
def has_gpu() -> bool:
    return bool(tf().config.list_physical_devices("GPU"))
