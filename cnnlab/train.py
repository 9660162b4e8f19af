"""Train a config into a new run directory: compile, fit with callbacks, keep the
best model, evaluate on the test split, and draw the standard plots.

    from cnnlab.config import load_config
    from cnnlab.train import train
    run_dir = train(load_config("configs/fashion.yaml"))
"""

from __future__ import annotations

import contextlib
import csv
import io
import json
import math
import sys
import time
from pathlib import Path

from cnnlab import runs
from cnnlab.augment import mix_batches
from cnnlab.backend import has_gpu, keras
from cnnlab.config import dump_config
from cnnlab.data import load_dataset, make_pipeline
from cnnlab.evaluate import evaluate_model, write_evaluation
from cnnlab.models import build_model
from cnnlab.resume import write_status
from cnnlab.summary import describe_model
from cnnlab.transfer import cache_features, plan_phases, uses_feature_cache


def train(cfg, output_dir: Path = runs.DEFAULT_OUTPUT_DIR, resume_run: Path | None = None) -> Path | None:
    """Train ``cfg`` and return the run directory. ``resume_run``: continue that
    interrupted run from its last backed-up epoch (see cnnlab.resume).

    Under train.distribute every process runs this same code (the same collective
    ops in the same order); only the chief writes the run directory, the others write
    a scratch copy that is removed, and they return None."""
    from cnnlab.distribute import choose, writable_run_dir

    dist = choose(cfg.train.distribute, cfg.train.devices)
    if dist.kind != "none":
        print(dist.describe(cfg.data.batch_size), file=sys.stderr, flush=True)
    if dist.is_chief:
        runs.check_writable(resume_run or output_dir)  # before minutes of loading and training
    with contextlib.ExitStack() as stack:
        if resume_run is None and dist.is_chief:
            base = runs.create_run_dir(output_dir, cfg.name)
            from cnnlab.launcher import write_run_file

            write_run_file(base)  # `--workers N` names the run in its errors
        else:
            base = resume_run
        run = stack.enter_context(writable_run_dir(base, dist))  # a scratch folder on non-chief workers
        _train(cfg, run, dist, resume_run is not None)
    return base if dist.is_chief else None


def _train(cfg, run: Path, dist, resuming: bool) -> None:
    k = keras()
    k.utils.set_random_seed(cfg.seed)  # python, numpy and TF generators
    set_precision_policy(cfg)
    data = load_dataset(cfg.data, cfg.seed)
    with dist.scope():  # variables made here are mirrored on every replica
        model = build_model(cfg, data.input_shape, data.num_classes)

    if not resuming:  # on resume its config, classes and initial weights are there already
        runs.write_text(run / "config.yaml", dump_config(cfg))
        runs.write_json(run / "classes.json", data.class_names)
        runs.write_text(run / "summary.txt", describe_model(model) + "\n")
        write_status(run, "running", 0)
        # Kept for "weights before vs after training" histograms.
        with runs.atomic_path(run / "initial.weights.h5") as tmp:
            model.save_weights(tmp)

    one_hot = data.num_classes if cfg.train.loss == "categorical_crossentropy" else 0
    batch = cfg.data.batch_size
    # cache_features: the frozen base runs once here, and fit_model is the head alone on (N, F) features.
    fit_model, fit_data = cache_features(model, data, batch) if uses_feature_cache(cfg) else (model, data)
    train_ds = make_pipeline(fit_data.x_train, data.y_train, batch, shuffle=True, seed=cfg.seed, one_hot=one_hot)
    train_ds = mix_batches(train_ds, cfg.augment, cfg.seed)  # MixUp/CutMix on training batches; no-op when off
    val_ds = (
        make_pipeline(fit_data.x_val, data.y_val, batch, shuffle=False, seed=cfg.seed, one_hot=one_hot)
        if len(data.x_val)
        else None
    )
    steps_per_epoch = math.ceil(len(data.x_train) / batch)
    phases = plan_phases(cfg)  # [train] for a plain model; cnnlab.transfer explains the others

    best = BestModel(run / runs.MODEL_FILE, cfg.train.monitor, target=model)  # always the full raw-pixel model
    history = HistoryRecorder(run)
    callbacks = [history, best]  # history first: its epoch_seconds must not include saving model.keras
    if cfg.train.early_stopping.enabled:
        callbacks.append(
            k.callbacks.EarlyStopping(
                monitor=cfg.train.monitor,
                patience=cfg.train.early_stopping.patience,
                min_delta=cfg.train.early_stopping.min_delta,
                restore_best_weights=False,  # BestModel keeps the best explicitly
            )
        )
    if cfg.train.tensorboard:
        callbacks.append(k.callbacks.TensorBoard(log_dir=str(run / "tensorboard"), profile_batch=0))

    from cnnlab.resume import TrainingGuard

    # Last callback: backs up after the others wrote their files; stops on Ctrl-C/SIGTERM/NaN.
    # One guard for all phases; on resume it knows the phase and epoch to continue from.
    guard = TrainingGuard(run, cfg, callbacks, train_ds, resume=resuming, dist=dist)
    callbacks.append(guard)
    started = time.perf_counter()
    for number, phase in enumerate(phases, 1):
        if number < guard.resume_phase:
            continue  # finished before the interruption: the backup and model.keras hold its result
        # Phase boundary: trainable flags change, so recompile (Keras fixes the trained variables at compile).
        phase.apply(model, cfg)
        with dist.scope():  # the optimizer's variables are mirrored too
            compile_model(fit_model, cfg, steps_per_epoch, optimizer_cfg=phase.optimizer, epochs=phase.epochs)
        history.start_phase(number)  # one epoch count and one history.csv across the phases
        first, last = guard.start_phase(number, phase.epochs, "finetune.learning_rate" if number > 1 else None)
        with guard.supervise():
            fit_model.fit(
                train_ds,
                validation_data=val_ds,
                epochs=last,
                initial_epoch=first,
                callbacks=callbacks,
                verbose=cfg.train.verbose,
                shuffle=False,  # the tf.data pipeline shuffles (seeded) already
            )
        best.restore(model)  # the next phase, and the evaluation, start from the best weights so far
    train_seconds = time.perf_counter() - started + guard.seconds_before

    if not dist.is_chief:
        return  # evaluation, plots and "done" are the chief's (and need no other worker)
    if dist.kind != "none":
        # Evaluate once, on the chief, the saved best model alone, outside the strategy:
        # no collective op, and metrics.json is what `cnnlab evaluate RUN` reports.
        fit_model = runs.load_model(run / runs.MODEL_FILE)
    evaluation = evaluate_model(fit_model, fit_data.x_test, data.y_test, data.class_names, batch_size=max(batch, 256))
    evaluation.metrics["train_seconds"] = round(train_seconds, 2)
    evaluation.metrics["best_epoch"] = best.best_epoch + 1
    write_evaluation(run, evaluation, data.x_test)
    from cnnlab.plots import plot_history

    history_columns = read_history(run)  # the whole run's, resumed epochs included
    runs.save_figure(plot_history(history_columns), run / "plots" / "history.png")
    from cnnlab.resume import mark_done

    mark_done(run, len(history_columns["epoch"]))  # status "done"; the backup is no longer needed


def precision_policy(wanted, gpu: bool) -> str:
    """train.mixed_precision -> a Keras dtype policy. 'auto' turns mixed precision on only
    with a GPU: bfloat16 on a CPU is fast only where the CPU has bfloat16 instructions, and
    it changes the numerics, so on CPUs it is opt-in (true or mixed_bfloat16)."""
    if wanted == "auto":
        return "mixed_float16" if gpu else "float32"
    if wanted is True:
        return "mixed_float16" if gpu else "mixed_bfloat16"
    return "float32" if wanted is False else wanted


def set_precision_policy(cfg) -> None:
    keras().mixed_precision.set_global_policy(precision_policy(cfg.train.mixed_precision, has_gpu()))


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
    return classes[opt_cfg.name](learning_rate=lr, **extra)


def compile_model(model, cfg, steps_per_epoch: int, optimizer_cfg=None, epochs: int | None = None) -> None:
    k = keras()
    from cnnlab.models import outputs_logits

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
        steps_per_execution=tc.steps_per_execution,
    )


# ---------------------------------------------------------------- callbacks


class BestModel(keras().callbacks.Callback):
    """Save model.keras whenever the monitored value improves (atomically), and keep
    the best weights in memory: EarlyStopping(restore_best_weights) restores only
    when it actually stops, so it cannot be relied on for the final model."""

    def __init__(self, path: Path, monitor: str, target=None):
        super().__init__()
        self.path, self.monitor = Path(path), monitor
        # The model to save (default: the one being fit). With cached features the fit
        # model is the head alone, but model.keras must be the full raw-pixel model.
        self.target = target
        self.mode_max = "accuracy" in monitor
        self.best = -math.inf if self.mode_max else math.inf
        self.best_weights = None
        self.best_epoch = -1

    def on_epoch_end(self, epoch, logs=None):
        value = (logs or {}).get(self.monitor)
        if value is None or math.isnan(value):
            return
        if (value > self.best) if self.mode_max else (value < self.best):
            self.best, self.best_epoch = value, epoch
            model = self.target or self.model
            self.best_weights = model.get_weights()
            runs.save_model(model, self.path)

    def restore(self, model) -> None:
        if self.best_weights is not None:
            model.set_weights(self.best_weights)
        else:  # nothing improved (e.g. NaN from the start): keep the last weights
            runs.save_model(model, self.path)


class HistoryRecorder(keras().callbacks.Callback):
    """Rewrite history.csv atomically after every epoch."""

    def __init__(self, run: Path):
        super().__init__()
        self.run = Path(run)
        self.rows: list[dict] = []
        self.epoch_started = time.perf_counter()
        self.phase = 1  # number of the training phase (cnnlab.transfer.plan_phases) each row belongs to

    def start_phase(self, number: int) -> int:
        """A phase boundary; returns the epochs done before it."""
        self.phase = number
        return len(self.rows)

    def on_epoch_begin(self, epoch, logs=None):
        self.epoch_started = time.perf_counter()

    def on_epoch_end(self, epoch, logs=None):
        row = {"epoch": epoch + 1, **{k: float(v) for k, v in (logs or {}).items()}}
        row["learning_rate"] = float(keras().ops.convert_to_numpy(self.model.optimizer.learning_rate))
        # Wall time of the epoch including validation: the benchmark's images/s come from it.
        row["epoch_seconds"] = round(time.perf_counter() - self.epoch_started, 3)
        row["phase"] = self.phase
        self.rows.append(row)
        runs.write_text(self.run / "history.csv", rows_to_csv(self.rows))
        # status.json is written by cnnlab.resume.TrainingGuard, once the epoch is backed up.


def rows_to_csv(rows: list[dict]) -> str:
    fields = list(dict.fromkeys(key for row in rows for key in row))
    out = io.StringIO()
    writer = csv.DictWriter(out, fieldnames=fields)
    writer.writeheader()
    writer.writerows(rows)
    return out.getvalue()


def read_history(run: Path) -> dict[str, list[float]]:
    """history.csv as columns: {"epoch": [...], "loss": [...], ...}."""
    with open(Path(run) / "history.csv", newline="") as f:
        rows = list(csv.DictReader(f))
    return {key: [float(r[key]) for r in rows if r.get(key) not in (None, "")] for key in (rows[0] if rows else {})}


def read_metrics(run: Path) -> dict:
    return json.loads((Path(run) / "metrics.json").read_text())
