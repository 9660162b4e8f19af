"""Loaded at interpreter start by benchmarks/fixed_costs.py (this folder is put on
PYTHONPATH): once ``keras`` is imported, Model.fit gets one extra callback that notes
when the first training batch begins and the last one ends (time.time(), the clock the
benchmark reads around the process) and writes them to $CNNLAB_FIXED_COSTS_FILE as JSON
at the end of each fit. The measured cnnlab tree is not changed: the baseline checkout
is measured by the same hook."""

from __future__ import annotations

import importlib.abc
import importlib.util
import json
import os
import sys
import time

OUT = os.environ.get("CNNLAB_FIXED_COSTS_FILE")


def _patch(keras) -> None:
    marks: dict[str, float] = {}

    class Marks(keras.callbacks.Callback):
        def on_train_batch_begin(self, batch, logs=None):
            marks.setdefault("first_batch_begin", time.time())  # the first fit's first batch

        def on_train_batch_end(self, batch, logs=None):
            marks["last_batch_end"] = time.time()  # overwritten: the last batch of the last fit wins

        def on_train_end(self, logs=None):
            marks["train_end"] = time.time()  # after the last epoch's validation and callbacks
            with open(OUT, "w") as f:
                json.dump(marks, f)

    fit = keras.Model.fit

    def fit_with_marks(self, *args, callbacks=None, **kwargs):
        return fit(self, *args, callbacks=[*(callbacks or []), Marks()], **kwargs)

    keras.Model.fit = fit_with_marks


class _AfterKeras(importlib.abc.MetaPathFinder):
    """Patch keras the moment it is imported, without importing it earlier than cnnlab does."""

    def find_spec(self, name, path, target=None):
        if name != "keras":
            return None
        sys.meta_path.remove(self)
        spec = importlib.util.find_spec(name)
        run = spec.loader.exec_module

        def exec_module(module):
            run(module)
            _patch(module)

        spec.loader.exec_module = exec_module
        return spec


if OUT:
    sys.meta_path.insert(0, _AfterKeras())
