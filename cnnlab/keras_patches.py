"""The two Keras 3 bugs that break ``model.fit`` under MultiWorkerMirroredStrategy,
patched in one place (keras-team/keras#20585, tensorflow/tensorflow#72388).

1. ``TensorFlowTrainer._maybe_symbolic_build`` looks for DistributedValues with
   ``keras.tree``, which walks *into* a PerReplica (a CompositeTensor) and so never
   sees it; the PerReplica batch then reaches ``_symbolic_build`` and fails with
   "Attempt to convert a value (PerReplica:{...}) ... to a Tensor". Fixed here by
   taking this worker's first local batch: only its shapes and dtypes are used, and
   no collective op runs (the original reduced the batch across workers).
2. ``reduce_per_replica(..., "mean")`` calls ``strategy.reduce("MEAN", v, axis=0)``
   in multi-worker mode, which fails for the scalar metric values fit returns
   (axis 0 of a rank-0 tensor). Fixed here by reducing scalars with axis=None.

``apply()`` is called only when training under multi_worker, and only for the Keras
versions listed in PATCHED_VERSIONS. tests/test_distribute.py runs the unpatched
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


def apply() -> bool:
    """Patch Keras's TensorFlow trainer (idempotent); False when this Keras version is not patched."""
    global _applied
    if _applied:
        return True
    if not needed():
        return False
    import tensorflow as tf
    from keras.src.backend.tensorflow import trainer as tf_trainer

    original_reduce = tf_trainer.reduce_per_replica

    def _maybe_symbolic_build(self, iterator=None, data_batch=None):
        if self._distribute_strategy is None:
            return  # no strategy: Keras builds when the train function is traced
        if iterator is not None:
            for _, _, it in iterator:
                batch = next(it)
                # tf.nest stops at a PerReplica instead of descending into its components
                data_batch = tf.nest.map_structure(_first_local, batch)
                break
        with self.distribute_strategy.scope():
            self._symbolic_build(data_batch=data_batch)

    def _first_local(value):
        if isinstance(value, tf.distribute.DistributedValues):
            return value.values[0]  # this worker's first replica: shapes and dtypes suffice
        return value

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
