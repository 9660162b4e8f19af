"""The ``cnnlab`` group, its error policy and the options commands share.

Commands live in one module per stage (cnnlab/cli/<stage>.py) and register
themselves on ``cli``; cnnlab/cli/__init__.py imports them. No TensorFlow import at
module level, so ``cnnlab --help`` answers at once."""

from __future__ import annotations

import os
import sys
from pathlib import Path

import click

from cnnlab import __version__
from cnnlab.errors import CnnlabError

RUN_HELP = "a run directory or .keras file (default: the newest run under --output-dir)"


class CnnlabGroup(click.Group):
    """Runs commands with the user-facing error policy: one line, exit code, no traceback."""

    def main(self, args=None, prog_name=None, complete_var=None, standalone_mode=True, **extra):
        """Click's own usage errors as one `Error:` line too (Click prints Usage:/Try first)."""
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode, **extra)
        try:
            result = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        except click.UsageError as exc:
            where = f"; see '{exc.ctx.command_path} --help'" if exc.ctx is not None else ""
            message = " ".join(exc.format_message().split()).rstrip(".")
            click.echo(f"Error: {message}{where}", err=True)
            sys.exit(exc.exit_code)
        except click.ClickException as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except click.exceptions.Abort:
            _end_progress_line()
            click.echo("Error: interrupted", err=True)
            sys.exit(130)
        sys.exit(result if isinstance(result, int) else 0)

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CnnlabError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            if exc.exit_code in (130, 143):  # stopped by Ctrl-C/SIGTERM: maybe mid progress bar
                _end_progress_line()
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
            _end_progress_line()
            click.echo("Error: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:  # e.g. `cnnlab evaluate | head`: the reader left, nothing to report
            sys.stderr.close()
            sys.exit(141)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug, not a user error: still one line unless --debug
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"Error: unexpected {type(exc).__name__}: {exc} (run with --debug for the traceback)", err=True)
            sys.exit(1)


def _end_progress_line() -> None:
    """After Ctrl-C the cursor may sit at the end of Keras's progress bar (stdout) or of
    the ^C echo: start the Error line on a line of its own."""
    for stream in (sys.stdout, sys.stderr):
        try:
            if stream.isatty():
                stream.write("\n")
                stream.flush()
                return
        except (ValueError, OSError):  # closed stream
            continue


@click.group(cls=CnnlabGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="cnnlab")
@click.option("--debug", is_flag=True, help="Show full tracebacks instead of one-line errors.")
@click.pass_context
def cli(ctx, debug):
    """cnnlab: build, train, evaluate and look inside convolutional neural networks.

    \b
    Start with:
      cnnlab summary configs/fashion.yaml   # layers, shapes, parameter arithmetic
      cnnlab train configs/fashion.yaml     # train the textbook CNN on Fashion-MNIST
      cnnlab evaluate                       # re-evaluate the newest run
      cnnlab predict shoe.png               # top-3 classes for an image
      cnnlab visualize --layer conv2d       # filters, feature maps, Grad-CAM, ...
      cnnlab augment configs/fashion-aug.yaml   # preview data augmentation
      cnnlab finetune --backbone resnet50   # transfer learning (cnnlab backbones lists them)
      cnnlab report                         # the newest run as one HTML page; cnnlab runs lists them
      cnnlab export --format tflite         # a verified model for phones, servers (also onnx, savedmodel)
      cnnlab explain conv --input digit9 --filter loop   # a convolution worked out step by step
    """
    ctx.ensure_object(dict)
    ctx.obj["debug"] = debug
    if debug:
        os.environ["CNNLAB_TF_LOGS"] = "1"  # TensorFlow's own start-up lines too (cnnlab.backend)


def output_dir_option(f):
    return click.option(
        "--output-dir",
        type=click.Path(file_okay=False, path_type=Path),
        default=Path("outputs"),
        show_default=True,
        help="Where run directories live.",
    )(f)


def track_option(f):
    """--track NAME: log the run to an experiment tracker (as the config's track: list)."""
    from cnnlab.config.trackers import TRACKERS  # a fact sheet: no tracker package imported

    return click.option(
        "--track",
        "trackers",
        multiple=True,
        type=click.Choice(list(TRACKERS)),
        help="Also log to this tracker (repeatable; added to the config's track: list). "
        "mlflow: MLFLOW_TRACKING_URI, or <output-dir>/mlflow.db.",
    )(f)


def with_trackers(cfg, trackers):
    """The config with --track names added to its track: list."""
    if not trackers:
        return cfg
    return cfg.model_copy(update={"track": list(dict.fromkeys([*cfg.track, *trackers]))})


def config_options(f=None, *, required=True):
    """CONFIG plus --set overrides, shared by commands that read a config.
    ``@config_options(required=False)`` where CONFIG may be left out (train --resume)."""
    if f is None:
        return lambda g: config_options(g, required=required)
    f = click.option(
        "--set",
        "overrides",
        multiple=True,
        metavar="KEY=VALUE",
        help="Override a config key, e.g. --set train.epochs=3 (repeatable).",
    )(f)
    return click.argument("config", required=required, type=click.Path(path_type=Path))(f)


def unsafe_option(f):
    """For commands that load a .keras file (safe mode refuses Lambda layers)."""
    return click.option(
        "--unsafe",
        is_flag=True,
        help="Allow .keras files with Lambda layers (arbitrary Python code); only for files you trust.",
    )(f)


def say_default_run(run_arg, loaded) -> None:
    """RUN left out means the newest run with a model (cnnlab.runs.FILTERS): say which one it was."""
    if run_arg is None:
        from cnnlab.runs import FILTERS

        click.echo(f"using the newest run{FILTERS['model'].said}: {loaded.run_dir}", err=True)


def json_option(f):
    """--json: print the command's table or result as JSON instead (strict: null for NaN)."""
    return click.option("--json", "as_json", is_flag=True, help="Print the result as JSON instead of a table.")(f)


def echo_json(data) -> None:
    from cnnlab.runs.write import json_text

    click.echo(json_text(data))


def stop_signals():
    """Ctrl-C / SIGTERM stop training at the next safe point (see cnnlab.train.signals)."""
    from cnnlab.train.signals import capture_stop_signals

    return capture_stop_signals()


def main():
    try:
        cli(obj={})
    except SystemExit as exc:
        if exc.code in (130, 143):
            # Training was interrupted and everything is on disk (atomic writes, status.json).
            # Leave without the interpreter's teardown: tf.data threads still inside a Python
            # decoder (a streamed image folder) can deadlock it and hang the exit.
            sys.stdout.flush()
            sys.stderr.flush()
            os._exit(exc.code)
        raise
