"""Compile a model the way its config says: precision policy, optimizer (Adam with its
fused kernel) and learning-rate schedule, loss (from logits or probabilities), XLA and
steps per execution."""

from __future__ import annotations

import sys

from cnnlab.backend import fast_bfloat16, has_gpu, keras, onednn_bfloat16_blocked, tf
from cnnlab.model import outputs_logits
from cnnlab.train.fused_adam import fuse_adam

# train.steps_per_execution: auto. Each call from Keras into TensorFlow costs ~0.6 ms
# (Python and dispatch), 8 % of the textbook model's batch-32 step on 2 CPU cores
# (benchmarks/step_overhead.py), so a model built from layers runs 8 steps per call.
# A pretrained backbone's step is long enough that the call costs under 1 %; there one
# step per call keeps Ctrl-C, the progress bar and callbacks answering after every
# batch. Under tf.distribute, Keras 3.15's multi-step loop fails ("You must feed a value
# for placeholder tensor"), so 1 there too.
AUTO_STEPS_PER_EXECUTION = 8


def precision_policy(wanted, gpu: bool) -> str:
    """train.mixed_precision -> a Keras dtype policy. 'auto': mixed_float16 with a GPU;
    on a CPU mixed_bfloat16 only where TensorFlow multiplies bfloat16 with the CPU's own
    instructions (AVX512_BF16/AMX, oneDNN on and not capped below them: backend.fast_bfloat16),
    else float32: without them bfloat16 is computed in software, many times slower
    (benchmarks/layer_profile.py). true: mixed_float16 on a GPU, mixed_bfloat16 on any CPU.
    A model trained in either mixed policy is exported as its float32 copy (cnnlab.export)."""
    if wanted == "auto":
        return "mixed_float16" if gpu else ("mixed_bfloat16" if fast_bfloat16() else "float32")
    if wanted is True:
        return "mixed_float16" if gpu else "mixed_bfloat16"
    return "float32" if wanted is False else wanted


def set_precision_policy(cfg, resumed: str | None = None) -> None:
    """Set Keras's global policy for the model about to be built. ``resumed``: the policy
    the run being resumed trained in; under auto it stands (auto on another CPU, or with
    another ONEDNN_MAX_CPU_ISA, could choose otherwise half way through a run)."""
    gpu = has_gpu()
    auto = cfg.train.mixed_precision == "auto"
    policy = precision_policy(cfg.train.mixed_precision, gpu)
    if resumed and auto and resumed != policy:
        print(f"Precision: {resumed}, as this run began (auto would choose {policy} here)", file=sys.stderr, flush=True)
        policy = resumed
    elif policy == "mixed_bfloat16" and not gpu and auto:  # not the float32 a learner may expect: say so
        print("Precision: mixed_bfloat16 (this CPU has AVX512_BF16/AMX; train.mixed_precision: false for float32)",
              file=sys.stderr, flush=True)  # fmt: skip
    if policy == "mixed_bfloat16" and not gpu and fast_bfloat16() is False:
        # The choice stands, but a ~10x slower run (benchmarks/layer_profile.py) deserves a line.
        why = onednn_bfloat16_blocked() or "this CPU has no bfloat16 instructions (AVX512_BF16/AMX)"
        print(f"Note: {why}, so mixed_bfloat16 runs in software, several times slower than float32; "
              "set train.mixed_precision: false", file=sys.stderr, flush=True)  # fmt: skip
    keras().mixed_precision.set_global_policy(policy)


def make_optimizer(opt_cfg, total_steps: int, steps_per_epoch: int):
    k = keras()
    lr = opt_cfg.learning_rate
    if opt_cfg.schedule == "cosine":
        warmup = min(opt_cfg.warmup_epochs * steps_per_epoch, max(total_steps - 1, 0))
        lr = k.optimizers.schedules.CosineDecay(
            initial_learning_rate=0.0 if warmup else opt_cfg.learning_rate,
            decay_steps=max(total_steps - warmup, 1),
            warmup_target=opt_cfg.learning_rate if warmup else None,
            warmup_steps=warmup,
        )
    extra = {}
    if opt_cfg.weight_decay is not None:
        extra["weight_decay"] = opt_cfg.weight_decay
    if opt_cfg.name in ("sgd", "rmsprop"):
        extra["momentum"] = opt_cfg.momentum
    classes = {
        "adam": k.optimizers.Adam,
        "adamw": k.optimizers.AdamW,
        "sgd": k.optimizers.SGD,
        "rmsprop": k.optimizers.RMSprop,
        "nadam": k.optimizers.Nadam,
    }
    return fuse_adam(classes[opt_cfg.name](learning_rate=lr, **extra))


def steps_per_execution(cfg, distributed: bool = False) -> int:
    """train.steps_per_execution, with auto resolved (AUTO_STEPS_PER_EXECUTION).
    ``distributed``: compiling under a tf.distribute strategy (what train.distribute
    resolved to; an explicit kind with more than 1 is refused by the config check)."""
    wanted = cfg.train.steps_per_execution
    if distributed:
        if wanted not in ("auto", 1):
            print(f"Note: train.steps_per_execution {wanted} -> 1 under tf.distribute (Keras's multi-step loop "
                  "fails there)", file=sys.stderr, flush=True)  # fmt: skip
        return 1
    if wanted != "auto":
        return wanted
    return 1 if cfg.model.backbone is not None else AUTO_STEPS_PER_EXECUTION


def compile_model(model, cfg, steps_per_epoch: int, optimizer_cfg=None, epochs: int | None = None) -> None:
    k = keras()
    tc = cfg.train
    opt_cfg = optimizer_cfg or tc.optimizer
    total_steps = steps_per_epoch * (epochs or tc.epochs)
    logits = outputs_logits(model)
    if tc.loss == "categorical_crossentropy":
        loss = k.losses.CategoricalCrossentropy(from_logits=logits, label_smoothing=tc.label_smoothing)
    else:
        loss = k.losses.SparseCategoricalCrossentropy(from_logits=logits)
    jit = has_gpu() if tc.jit_compile == "auto" else tc.jit_compile  # XLA made CPU epochs ~2.5x slower
    model.compile(
        optimizer=make_optimizer(opt_cfg, total_steps, steps_per_epoch),
        loss=loss,
        metrics=list(tc.metrics),
        jit_compile=jit,
        steps_per_execution=steps_per_execution(cfg, _under_tf_distribute()),
    )


def fit_verbosity(wanted, stream=None) -> int:
    """train.verbose -> Keras's verbose. "auto" is the progress bar on a terminal and one
    line per epoch elsewhere (a log file or CI would otherwise get thousands of
    carriage-return updates of the bar)."""
    if wanted != "auto":
        return wanted
    stream = sys.stdout if stream is None else stream
    return 1 if getattr(stream, "isatty", lambda: False)() else 2


def _under_tf_distribute() -> bool:
    """Whether a tf.distribute strategy is active; never on another Keras backend (JAX on the
    lent GPU machines, which have no TensorFlow to import)."""
    return keras().backend.backend() == "tensorflow" and tf().distribute.has_strategy()
