"""The practitioner's commands: look at the data, find a learning rate, tune."""

from __future__ import annotations

import click

from cnnlab.cli.app import cli, config_options, echo_json, json_option, output_dir_option, track_option, with_trackers
from cnnlab.errors import RunError


@cli.command("lr-find")
@config_options
@click.option("--steps", default=200, show_default=True, type=click.IntRange(min=1), help="Training steps of the test.")
@click.option("--min-lr", default=1e-7, show_default=True, type=float, help="Learning rate of the first step.")
@click.option("--max-lr", default=10.0, show_default=True, type=float, help="Learning rate of the last step.")
@output_dir_option
@json_option
def lr_find(config, overrides, steps, min_lr, max_lr, output_dir, as_json):
    """Learning-rate range test: train CONFIG's model for STEPS batches while the learning
    rate grows exponentially from MIN_LR to MAX_LR; stop when the loss explodes.

    Draws the loss against the learning rate to <output-dir>/<name>/lr-find.png and prints
    two estimates, both heuristics: the valley (halfway along the longest descent of the
    smoothed loss) and the loss minimum's rate / 10. The suggestion is the lower of the
    two, never at or past the minimum; check it with a short training run. The model's
    weights are restored afterwards."""
    from cnnlab.config import load_config
    from cnnlab.train.lr_find import check_range
    from cnnlab.train.lr_find import lr_find as range_test

    check_range(steps, min_lr, max_lr)  # before loading any data
    cfg = load_config(config, overrides)
    result, plot = range_test(cfg, output_dir, steps, min_lr, max_lr)
    if result.suggestion is None:
        raise RunError(
            f"the loss was not finite or did not fall in {len(result.losses)} steps from {min_lr:g}; "
            "lower --min-lr or check the data"
        )
    if as_json:  # the estimates and the whole sweep, for a script or a notebook
        echo_json({"suggestion": result.suggestion, "method": result.method, "valley": result.valley,
                   "minimum": result.minimum, "minimum_tenth": result.minimum_tenth,
                   "stopped_early": result.stopped_early, "plot": str(plot),
                   "learning_rates": result.learning_rates, "losses": result.losses})  # fmt: skip
        return
    last = result.learning_rates[-1]
    ending = f"the loss exploded at {last:.2e}" if result.stopped_early else f"reached {last:.2e}"
    click.echo(f"{len(result.losses)} steps from {min_lr:.1e}; {ending}")
    click.echo(f"smoothed loss lowest at {result.minimum:.2e} (training at or past it can diverge)")
    valley = f"{result.valley:.2e}" if result.valley is not None else "none (no clear descent)"
    click.echo(f"estimate 1, valley (halfway along the longest descent): {valley}")
    click.echo(f"estimate 2, minimum / 10:                               {result.minimum_tenth:.2e}")
    click.echo(f"plot written to {plot}")
    click.echo("both are heuristics: the lower one is suggested; check it with a short run (train.epochs=2)")
    click.echo(f"suggested ({result.method}): --set train.optimizer.learning_rate={result.suggestion:.2e}")


@cli.command("data")
@config_options
@click.option("--imbalance-ratio", default=3.0, show_default=True, type=click.FloatRange(min=1.0),
              help="Warn when the most frequent class has more than this many times the training images of the rarest.")  # fmt: skip
@click.option("--samples", default=8, show_default=True, type=click.IntRange(1, 32), help="Sample images per class.")
@output_dir_option
@json_option
def data_command(config, overrides, imbalance_ratio, samples, output_dir, as_json):
    """What CONFIG's data really is, before any training: images per class and split,
    sizes and channels on disk (what is resized or skipped, and why), pixel mean/std,
    and a grid of sample images per class (<output-dir>/<name>/data/samples.png)."""
    from cnnlab.config import load_config
    from cnnlab.data.report import data_report, format_report, imbalance_warning

    report = data_report(load_config(config, overrides), output_dir, samples)
    if as_json:
        echo_json(report.to_json())
    else:
        for line in format_report(report):
            click.echo(line)
    warning = imbalance_warning(report, imbalance_ratio)
    if warning:
        click.echo(f"Warning: {warning}", err=True)


@cli.command()
@config_options
@click.option("--fresh", is_flag=True, help="Start the search over instead of continuing it (earlier runs stay).")
@output_dir_option
@json_option
@track_option
def tune(config, overrides, fresh, output_dir, as_json, trackers):
    """Hyperparameter search with Keras Tuner over CONFIG's tune: section.

    Every trial is a normal run under <output-dir>/<name>/; Keras Tuner's state is in
    <output-dir>/<name>/tune/, so rerunning the command continues an interrupted
    search. Ends with a table of the trials, best first, and the best config written to
    <output-dir>/<name>/tune/best.yaml. Needs: pip install 'cnnlab[tune]'."""
    from cnnlab.cli.app import stop_signals
    from cnnlab.train.tune import keras_tuner, load_tune_config, summary_rows, summary_table
    from cnnlab.train.tune import tune as search

    cfg, tune_cfg = load_tune_config(config, overrides)
    cfg = with_trackers(cfg, trackers)  # every trial's run is tracked
    keras_tuner()  # installed? say so before any training
    import contextlib
    import sys

    # --json: stdout carries the JSON alone; the trials' progress goes to stderr
    quiet = contextlib.redirect_stdout(sys.stderr) if as_json else contextlib.nullcontext()
    with stop_signals(), quiet:
        result = search(cfg, tune_cfg, output_dir, fresh, say=lambda line: click.echo(line, err=True))
    if as_json:
        echo_json({"objective": result.objective, "trials": summary_rows(result),
                   "best_config": str(result.best_config) if result.best_config else None})  # fmt: skip
    else:
        for line in summary_table(result, list(tune_cfg.space)):
            click.echo(line)
    if result.best_config is None:
        raise RunError(f"no trial produced a {result.objective} value; see the runs in the table")
    if not as_json:
        click.echo(f"best config written to {result.best_config}")
