"""Train a config into a new run directory: compile, fit with callbacks, keep the
best model, evaluate on the test split, and draw the standard plots.

    from cnnlab.config import load_config
    from cnnlab.train import train
    run_dir = train(load_config("configs/fashion.yaml"))
"""

from __future__ import annotations

import contextlib
import math
import sys
import time
from pathlib import Path

from cnnlab import runs
from cnnlab.backend import global_policy_restored, keras
from cnnlab.config import dump_config
from cnnlab.data import load_dataset
from cnnlab.data.mixing import mix_batches
from cnnlab.data.pipeline import EVAL_BATCH, fit_pipelines
from cnnlab.inspect.evaluate import evaluate_model, write_evaluation
from cnnlab.model import build_model, check_model
from cnnlab.model.summary import describe_model
from cnnlab.inspect.curves import plot_curves
from cnnlab.track import open_tracking
from cnnlab.train.callbacks import BestModel, HistoryRecorder, stateful_callbacks
from cnnlab.train.compile import compile_model, fit_verbosity, set_precision_policy
from cnnlab.train.distribute import choose, writable_run_dir
from cnnlab.train.guard import TrainingGuard
from cnnlab.train.launcher import write_run_file
from cnnlab.train.lock import run_lock
from cnnlab.config.phases import plan_phases
from cnnlab.train.phases import apply_phase, cache_features, phase_text, uses_feature_cache
from cnnlab.train.resume import backed_up_precision, mark_done, resume_state
from cnnlab.train.class_weights import class_weights, describe_class_weights
from cnnlab.train.state import RunState
from cnnlab.train.timing import Timings


def train(cfg, output_dir: Path = runs.DEFAULT_OUTPUT_DIR, resume_run: Path | None = None,
          timings: Timings | None = None) -> Path | None:  # fmt: skip
    """Train ``cfg`` and return the run directory. ``resume_run``: continue that
    interrupted run from its last backed-up epoch (see cnnlab.train.resume). ``timings``
    collects where the time went (also saved in metrics.json as timings_seconds).

    Under train.distribute every process runs this same code (the same collective ops
    in the same order, cnnlab.train.distribute); only the chief writes the run
    directory, the others write a scratch copy that is removed, and return None."""
    timings = timings or Timings()
    keras()
    timings.lap("start TensorFlow")
    dist = choose(cfg.train.distribute, cfg.train.devices)
    if dist.kind != "none":
        print(dist.describe(cfg.data.batch_size), file=sys.stderr, flush=True)
    # One trainer per run directory (cnnlab.train.lock), held until this returns or raises;
    # taken by the chief, which alone writes the run.
    with global_policy_restored(), contextlib.ExitStack() as locks:
        if resume_run is not None and dist.is_chief:
            locks.enter_context(run_lock(resume_run))  # before minutes of loading: a second --resume is refused at once
        return _load_and_train(cfg, output_dir, resume_run, timings, dist, locks)


def _load_and_train(cfg, output_dir: Path, resume_run: Path | None, timings: Timings, dist,
                    locks: contextlib.ExitStack) -> Path | None:  # fmt: skip
    if dist.is_chief:
        runs.check_writable(resume_run or output_dir)  # before minutes of loading and training
    # Layer types and arguments, with Keras: before minutes of loading data, and before the
    # seed (a test-built Dropout draws its seed from the global generator).
    check_model(cfg)
    keras().utils.set_random_seed(cfg.seed)  # python, numpy and TF generators
    set_precision_policy(cfg, backed_up_precision(runs.RunDir(resume_run)) if resume_run else None)
    data = load_dataset(cfg.data, cfg.seed)
    timings.lap("load data")
    with dist.scope():  # variables made here are mirrored on every replica
        model = build_model(cfg, data.input_shape, data.num_classes)  # a bad model: no run directory made
    timings.lap("build model")
    # train.class_weight: checked (class names) before the run directory exists.
    weights = class_weights(cfg.train.class_weight, data.y_train, data.class_names)
    with contextlib.ExitStack() as stack:
        if resume_run is None and dist.is_chief:
            base = runs.create_run_dir(output_dir, cfg.name)
            locks.enter_context(run_lock(base))
            write_run_file(base)  # `--workers N` names the run in its errors
        else:
            base = resume_run
        run = stack.enter_context(writable_run_dir(base, dist))  # a scratch folder on non-chief workers
        # MLflow etc. (config track:) and TensorBoard HParams; the chief's alone, never a failed training
        tracking = stack.enter_context(open_tracking(cfg, runs.RunDir(run), resuming=resume_run is not None,
                                                     output_dir=output_dir, enabled=dist.is_chief))  # fmt: skip
        _train(cfg, runs.RunDir(run), dist, data, model, timings, weights, tracking, resuming=resume_run is not None)
    return Path(base) if dist.is_chief else None


def _train(cfg, run: runs.RunDir, dist, data, model, timings: Timings, weights: dict | None, tracking, *,
           resuming: bool) -> None:  # fmt: skip
    k = keras()
    if resuming:  # its config, classes and initial weights are there already
        state, pending = resume_state(run)
    else:
        state, pending = RunState(), None
        runs.write_text(run.config, dump_config(cfg))
        runs.write_json(run.classes, data.class_names)
        weights_line = describe_class_weights(weights, data.class_names, cfg.train.class_weight)
        runs.write_text(run.summary, describe_model(model) + "\n" + weights_line + "\n")
        run.write_status("running", 0)
        # Kept for "weights before vs after training" histograms.
        with runs.atomic_path(run.initial_weights) as tmp:
            model.save_weights(tmp)

    one_hot = data.num_classes if cfg.train.loss == "categorical_crossentropy" else 0
    batch = cfg.data.batch_size
    # cache_features: the frozen base runs once here, and fit_model is the head alone on (N, F) features.
    fit_model, fit_data = cache_features(model, data, batch) if uses_feature_cache(cfg) else (model, data)
    train_ds, val_ds = fit_pipelines(fit_data.x_train, data.y_train, fit_data.x_val, data.y_val, batch,
                                     seed=cfg.seed, one_hot=one_hot)  # fmt: skip
    train_ds = mix_batches(train_ds, cfg.augment, cfg.seed)  # MixUp/CutMix on training batches; no-op when off
    steps_per_epoch = math.ceil(len(data.x_train) / batch)
    phases = plan_phases(cfg)  # [train] for a plain model; cnnlab.train.phases explains the others

    best = BestModel(run.model, cfg.train.monitor, state, target=model)  # always the full raw-pixel model
    history = HistoryRecorder(run, state)
    callbacks = [history, best, *stateful_callbacks(cfg)]  # history first: its epoch_seconds exclude saving
    callbacks.append(tracking.callback(state.history, [phase.name for phase in phases]))  # logs history's rows
    if cfg.train.tensorboard:
        callbacks.append(k.callbacks.TensorBoard(log_dir=str(run.tensorboard), profile_batch=0))
    # Last callback: backs up after the others wrote their files; stops on Ctrl-C/SIGTERM/NaN.
    # One guard for all phases; on resume it knows the phase and epoch to continue from.
    guard = TrainingGuard(run, cfg, state, callbacks, train_ds, phases, pending=pending, dist=dist)
    callbacks.append(guard)
    timings.lap("run files and input pipeline")
    started = time.perf_counter()
    for number, phase in enumerate(phases, 1):
        if number < guard.resume_phase:
            continue  # finished before the interruption: the backup and model.keras hold its result
        # Phase boundary: trainable flags change, so recompile (Keras fixes the trained variables at compile).
        apply_phase(phase, model, cfg)
        if len(phases) > 1 and dist.is_chief:  # say which phase the epochs that follow belong to
            print(f"phase {number} of {len(phases)}, {phase_text(phase, model)}", flush=True)
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
                class_weight=weights,  # None unless train.class_weight is set
                verbose=fit_verbosity(cfg.train.verbose),
                shuffle=False,  # the tf.data pipeline shuffles (seeded) already
            )
        best.restore(model)  # the next phase, and the evaluation, start from the best weights so far
    train_seconds = time.perf_counter() - started + guard.seconds_before
    timings.lap("train (compile + fit)")

    if not dist.is_chief:
        return  # evaluation, plots and "done" are the chief's (and need no other worker)
    if dist.kind != "none":
        # Evaluate once, on the chief, the saved best model alone, outside the strategy:
        # no collective op, and metrics.json is what `cnnlab evaluate RUN` reports.
        fit_model = runs.load_model(run.model)
    evaluation = evaluate_model(fit_model, fit_data.x_test, data.y_test, data.class_names,
                                batch_size=max(batch, EVAL_BATCH))  # fmt: skip
    timings.lap("evaluate")
    evaluation.metrics["train_seconds"] = round(train_seconds, 2)
    evaluation.metrics["train_images"] = len(data.x_train)  # images per epoch: with train_seconds, the run's speed
    evaluation.metrics["precision"] = model.dtype_policy.name  # what train.mixed_precision (auto) chose here
    evaluation.metrics["best_epoch"] = state.best_epoch + 1  # 1-based, as history.csv counts
    evaluation.metrics["timings_seconds"] = timings.rounded()  # up to the evaluation
    write_evaluation(run.path, evaluation, data.x_test)
    history_columns = run.read_history()  # the whole run's, resumed epochs included
    best_epoch = state.best_epoch + 1
    runs.save_figure(plot_curves([(cfg.name, history_columns)], best_epoch), run.history_plot)
    mark_done(run, len(history_columns["epoch"]))  # status "done"; the backup is no longer needed
    tracking.finish()  # test metrics and the run's files to the trackers
    timings.lap("metrics, plots and files")
