"""The two Keras 3 bugs that break ``model.fit`` under MultiWorkerMirroredStrategy,
patched in one place (keras-team/keras#20585, tensorflow/tensorflow#72388).

1. ``TensorFlowTrainer._maybe_symbolic_build`` looks for DistributedValues with
   ``keras.tree``, which walks *into* a PerReplica (a CompositeTensor) and so never
   sees it; the PerReplica batch then reaches ``_symbolic_build`` and fails with
   "Attempt to convert a value (PerReplica:{...}) ... to a Tensor". Fixed here by
   building from a batch of zeros shaped like the dataset's element_spec: the build
   uses only shapes and dtypes, no collective op runs (the original reduced a real
   batch across workers), and no iterator is made. That last point matters under
   mirrored too: the original's extra iterator advanced the seeded reshuffle, so a
   distributed run saw every epoch in the next epoch's order (measured: test accuracy
   0.742 single-device vs 0.721 mirrored; 0.742 for both with this fix).
2. ``reduce_per_replica(..., "mean")`` calls ``strategy.reduce("MEAN", v, axis=0)``
   in multi-worker mode, which fails for the scalar metric values fit returns
   (axis 0 of a rank-0 tensor). Fixed here by reducing scalars with axis=None.

``apply()`` is called only when training under mirrored or multi_worker (fix 2 acts
only in multi-worker mode), and only for the Keras versions in PATCHED_VERSIONS. tests/test_distribute.py runs the unpatched
Keras once and fails when upstream has fixed either bug, so the patch can go.
"""

from __future__ import annotations

# Keras versions known to need the patches (checked: 3.15.1). Others get no patch,
# and a one-line warning if multi_worker fit then fails the way these bugs do.
PATCHED_VERSIONS = ("3.15.",)
_applied = False


def needed(version: str | None = None) -> bool:
    if version is None:
        import keras

        version = keras.__version__
    return version.startswith(PATCHED_VERSIONS)


def apply(force: bool = False) -> bool:
    """Patch Keras's TensorFlow trainer (idempotent); False when this Keras version is
    not patched (``force``: patch anyway, for the test that checks upstream)."""
    global _applied
    if _applied:
        return True
    if not (force or needed()):
        return False
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_reduce = tf_trainer.reduce_per_replica

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return  # no strategy: Keras builds when the train function is traced
        if iterator is not None and data_batch is None:
            spec = iterator.data_adapter.get_tf_dataset().element_spec  # no iterator made
            data_batch = tf.nest.map_structure(_zeros_like_spec, spec)
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def _zeros_like_spec(spec):
        shape = [1 if d is None else d for d in spec.shape]  # (1, H, W, C) for (None, H, W, C)
        return tf.zeros(shape, spec.dtype)

    def reduce_per_replica(values, strategy, reduction):
        if reduction in ("auto", "mean") and tf_trainer._collective_all_reduce_multi_worker(strategy):

            def _mean(v):
                scalar = getattr(v, "shape", None) is not None and v.shape.rank == 0
                return strategy.reduce("MEAN", v, axis=None if scalar else 0)

            return tf.nest.map_structure(_mean, values)
        return original_reduce(values, strategy, reduction)

    tf_trainer.TensorFlowTrainer._maybe_symbolic_build = _maybe_symbolic_build
    tf_trainer.reduce_per_replica = reduce_per_replica
    _applied = True
    return True
