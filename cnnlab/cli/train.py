"""``cnnlab train`` and ``cnnlab finetune``: from a config to a finished run."""

from __future__ import annotations

import sys
from pathlib import Path

import click

from cnnlab.cli.app import cli, config_options, output_dir_option, stop_signals, track_option, with_trackers
from cnnlab.cli.completion import backbone_names, choices, complete_runs
from cnnlab.runs import RunDir


@cli.command()
@config_options(required=False)
@click.option("--epochs", type=click.IntRange(min=1), help="Shortcut for --set train.epochs=N.")
@click.option(
    "--resume",
    shell_complete=complete_runs,
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[RUN]",
    help="Continue an interrupted run (default: the newest one under --output-dir) with its own config.",
)
@click.option(
    "--workers",
    type=click.IntRange(min=2),
    metavar="N",
    help="Train with N local worker processes (train.distribute=multi_worker over loopback).",
)
@click.option("--over-limit", is_flag=True,
              help="Start --workers N even when N is more than this machine's cores and memory allow.")
@click.option("--profile", is_flag=True, help="Print where the time went: start-up, data, model, training, evaluation, files.")
@output_dir_option
@click.option("--no-report", is_flag=True, help="Do not write RUN/report.html at the end (cnnlab report RUN writes it later).")
@track_option
def train(config, overrides, epochs, resume, workers, over_limit, profile, output_dir, no_report, trackers):
    """Train the model described by CONFIG into a new run directory.

    Ctrl-C or SIGTERM stops at the next safe point and prints the command to resume.
    With TF_CONFIG set (one process per node of a cluster) it trains as one worker."""
    from cnnlab.train.timing import Timings

    timings = Timings()  # from here: cnnlab's own imports and TensorFlow's start count too
    from cnnlab.train.distribute import start_cluster

    start_cluster()  # with TF_CONFIG: before any TensorFlow op (collective ops are set up at start-up)
    from cnnlab.config import load_config

    if workers:
        from cnnlab.train.launcher import check_workers

        check_workers(workers, over_limit)  # before the config is read or anything started
        overrides = [*overrides, "train.distribute=multi_worker"]

    overrides = list(overrides) + ([f"train.epochs={epochs}"] if epochs else [])
    resume_run = None
    if resume is not None:
        from cnnlab.train.resume import plan_resume

        plan = plan_resume(resume or None, output_dir, config, overrides)
        if plan.chosen:
            click.echo(plan.chosen, err=True)
        if plan.cfg is None:
            click.echo(f"{plan.run} is already done ({plan.status.get('epoch', '?')} epochs); nothing to resume")
            return
        cfg, resume_run = plan.cfg, plan.run
        click.echo(f"resuming {resume_run} after epoch {plan.status.get('epoch', 0)}", err=True)
    elif config is None:
        raise click.UsageError("give CONFIG, or --resume [RUN] to continue an interrupted run")
    else:
        cfg = load_config(config, overrides)
    cfg = with_trackers(cfg, trackers)
    if workers:  # checked here in this process; then the same command N times, each a worker
        from cnnlab.model import check_model
        from cnnlab.train.launcher import launch

        check_model(cfg)

        args = ["train", *(["--resume", str(resume_run)] if resume_run else [str(config)])]
        args += [a for o in overrides for a in ("--set", o)] + ["--output-dir", str(output_dir)]
        args += ["--no-report"] if no_report else []  # the chief writes the report: it must hear the flag too
        args += [a for name in trackers for a in ("--track", name)]  # the chief tracks
        code = launch(args, workers, resume_run, over_limit)  # the chief printed the result, or its Error: line
        if code:
            sys.exit(code)
        return
    from cnnlab.train import train as run_training

    with stop_signals():
        run = run_training(cfg, output_dir, resume_run=resume_run, timings=timings)
    if run is not None:  # None: a non-chief worker (the chief reports)
        report_run(run, html=not no_report)
        if profile:
            timings.lap(RunDir.REPORT)
            click.echo(timings.table(), err=True)


def report_run(run: Path, html: bool = True) -> None:
    """The last lines of train/finetune; benchmarks parse 'run saved to'. The result comes
    first, then ``html``: RUN/report.html, which takes seconds (a report that cannot be
    made is a note, never a failed run)."""
    metrics = RunDir(run).read_metrics()
    from cnnlab.inspect.tta_views import tta_text

    click.echo(f"test accuracy {metrics['test_accuracy']:.4f}, test loss {metrics['test_loss']:.4f}{tta_text(metrics)}")
    if html:
        from cnnlab.errors import CnnlabError
        from cnnlab.inspect.report import write_report

        try:
            report = write_report(run).path
            click.echo(f"report written to {report}")
            from cnnlab.track import log_files

            log_files(run, [report])  # a tracked run (config track:) gets its report.html too
        except CnnlabError as exc:
            click.echo(f"Note: no report.html: {exc}", err=True)
        except Exception as exc:  # noqa: BLE001  the run is trained and saved: a report bug must not fail it
            click.echo(f"Note: no report.html ({type(exc).__name__}: {exc}); cnnlab --debug report {run} shows why", err=True)
    click.echo(f"run saved to {run}")


DEFAULT_FINETUNE_CONFIG = Path("configs/finetune.yaml")


@cli.command()
@click.argument("config", required=False, type=click.Path(path_type=Path))
@click.option("--backbone", required=True, metavar="NAME", shell_complete=choices(backbone_names), help="A pretrained base (cnnlab backbones lists them).")
@click.option("--mode", type=click.Choice(["feature_extraction", "fine_tune"]), help="Frozen base, or unfreeze its top.")
@click.option("--weights", metavar="W", help="imagenet | none | a weights file | a cnnlab run directory or .keras file.")
@click.option("--unfreeze", type=click.IntRange(min=1), help="fine_tune: unfreeze the top N base layers (not BatchNorm).")
@click.option("--epochs", type=click.IntRange(min=1), help="Phase 1 epochs: the new head on the frozen base (train.epochs).")
@click.option("--finetune-epochs", type=click.IntRange(min=0),
              help="Phase 2 epochs of --mode fine_tune: the top of the base unfrozen (finetune.epochs).")  # fmt: skip
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (repeatable).")
@output_dir_option
@click.option("--no-report", is_flag=True, help="Do not write RUN/report.html at the end (cnnlab report RUN writes it later).")
@track_option
def finetune(config, backbone, mode, weights, unfreeze, epochs, finetune_epochs, overrides, output_dir, no_report,
             trackers):
    """Transfer learning: a pretrained BACKBONE with a new head, trained on CONFIG's data.

    CONFIG defaults to configs/finetune.yaml (Fashion-MNIST, resized inside the model
    for the backbone); the flags override it, and --set overrides the flags.
    --backbone run --weights RUN reuses a cnnlab run's convolutional layers at that run's
    own input size. --mode fine_tune trains in two phases, each announced as it starts:
    1. the new head on the frozen base (--epochs), 2. the top --unfreeze base layers too,
    at finetune.learning_rate (--finetune-epochs)."""
    from cnnlab.config.finetune import finetune_config

    counts = [f"train.epochs={epochs}"] if epochs else []
    counts += [f"finetune.epochs={finetune_epochs}"] if finetune_epochs is not None else []
    overrides = [*counts, *overrides]  # --set still wins

    cfg, notes = finetune_config(config or DEFAULT_FINETUNE_CONFIG, backbone, mode, weights, unfreeze, overrides)
    typed = unfreeze or any(o.partition("=")[0].strip().startswith("model.backbone.unfreeze") for o in overrides)
    if not typed:
        from cnnlab.model.backbones import fit_run_unfreeze

        cfg, note = fit_run_unfreeze(cfg)
        notes = [*notes, note] if note else notes
    for note in notes:
        click.echo(f"Note: {note}", err=True)
    cfg = with_trackers(cfg, trackers)
    from cnnlab.train import train as run_training

    with stop_signals():
        run = run_training(cfg, output_dir)
    report_run(run, html=not no_report)
