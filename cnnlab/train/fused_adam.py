"""Adam's update as TensorFlow's one fused kernel per variable.

Keras 3 writes Adam's step as about a dozen element-wise ops per variable (each a pass
over the weights and a dispatch); TensorFlow's ResourceApplyAdam does the same
arithmetic in one pass: on 2 CPU cores about 0.94 -> 0.31 ms per step for the
textbook model's 8 variables, 7 % of its batch-32 step (benchmarks/step_overhead.py).
The formulas are the same (Keras's epsilon is added outside the square root, as the
kernel's is), so the weights agree to float rounding
(tests/test_train_options.py, test_fused_adam_takes_the_steps_keras_adam_takes).

Only the instance's update_step changes: the optimizer stays a keras.optimizers.Adam
(or AdamW), so a saved model names Adam and loads anywhere without cnnlab, and
clipping, weight decay and EMA stay Keras's own (they run outside update_step).
"""

from __future__ import annotations

import types

from cnnlab.backend import keras, tf


def fuse_adam(optimizer):
    """Give an Adam/AdamW optimizer the fused update (in place; returns it). Others,
    AMSGrad (a different update) and non-TensorFlow backends are left as they are."""
    k = keras()
    if (
        isinstance(optimizer, k.optimizers.Adam)  # AdamW is an Adam whose decay runs outside update_step
        and not optimizer.amsgrad
        and k.backend.backend() == "tensorflow"
    ):
        optimizer.update_step = types.MethodType(_fused_update_step, optimizer)
    return optimizer


def _fused_update_step(self, gradient, variable, learning_rate):
    """keras.optimizers.Adam.update_step, as one ResourceApplyAdam (``variable`` is the
    tf.Variable: the TensorFlow optimizer unwraps Keras variables before update_step)."""
    tf_ = tf()
    dtype = variable.dtype
    index = self._get_variable_index(variable)
    step = tf_.cast(self.iterations + 1, dtype)
    beta_1, beta_2 = tf_.cast(self.beta_1, dtype), tf_.cast(self.beta_2, dtype)
    tf_.raw_ops.ResourceApplyAdam(
        var=variable.handle,
        m=self._momentums[index].handle,
        v=self._velocities[index].handle,
        beta1_power=tf_.pow(beta_1, step),
        beta2_power=tf_.pow(beta_2, step),
        lr=tf_.cast(learning_rate, dtype),
        beta1=beta_1,
        beta2=beta_2,
        epsilon=tf_.cast(self.epsilon, dtype),
        grad=tf_.cast(gradient, dtype),
    )
