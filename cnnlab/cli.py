"""The ``cnnlab`` command line: parse, load the config, call a stage, and turn
``CnnlabError`` into one ``Error: ...`` line. No TensorFlow import at module level,
so ``cnnlab --help`` answers at once."""

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

    def invoke(self, ctx):
        try:
            return super().invoke(ctx)
        except CnnlabError as exc:
            if ctx.obj and ctx.obj.get("debug"):
                raise
            click.echo(f"Error: {exc}", err=True)
            sys.exit(exc.exit_code)
        except KeyboardInterrupt:
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
    """RUN left out means the newest run of any config: say which one it was."""
    if run_arg is None:
        click.echo(f"using the newest run: {loaded.run_dir}", err=True)


def stop_signals():
    """Ctrl-C / SIGTERM stop training at the next safe point (see cnnlab.signals)."""
    from cnnlab.signals import capture_stop_signals

    return capture_stop_signals()


@cli.command()
@config_options(required=False)
@click.option("--epochs", type=click.IntRange(min=1), help="Shortcut for --set train.epochs=N.")
@click.option(
    "--resume",
    is_flag=False,
    flag_value="",
    default=None,
    metavar="[RUN]",
    help="Continue an interrupted run (default: the newest one under --output-dir) with its own config.",
)
@output_dir_option
def train(config, overrides, epochs, resume, output_dir):
    """Train the model described by CONFIG into a new run directory.

    Ctrl-C or SIGTERM stops at the next safe point and prints the command to resume."""
    from cnnlab.config import load_config

    overrides = list(overrides) + ([f"train.epochs={epochs}"] if epochs else [])
    resume_run = None
    if resume is not None:
        from cnnlab.resume import plan_resume

        plan = plan_resume(resume or None, output_dir, config, overrides)
        if plan.cfg is None:
            click.echo(f"{plan.run} is already done ({plan.status.get('epoch', '?')} epochs); nothing to resume")
            return
        cfg, resume_run = plan.cfg, plan.run
        click.echo(f"resuming {resume_run} after epoch {plan.status.get('epoch', 0)}", err=True)
    elif config is None:
        raise click.UsageError("give CONFIG, or --resume [RUN] to continue an interrupted run")
    else:
        cfg = load_config(config, overrides)
    from cnnlab.train import train as run_training

    with stop_signals():
        run = run_training(cfg, output_dir, resume_run=resume_run)
    report_run(run)


def report_run(run: Path) -> None:
    """The last two lines of train/finetune; benchmarks parse 'run saved to'."""
    from cnnlab.train import read_metrics

    metrics = read_metrics(run)
    click.echo(f"test accuracy {metrics['test_accuracy']:.4f}, test loss {metrics['test_loss']:.4f}")
    click.echo(f"run saved to {run}")


@cli.command(help=f"Evaluate a trained model on its dataset's test split.\n\nRUN: {RUN_HELP}.")
@click.argument("run", required=False)
@output_dir_option
@unsafe_option
def evaluate(run, output_dir, unsafe):
    from cnnlab.evaluate import evaluate_run
    from cnnlab.runs import load_run

    loaded = load_run(run, output_dir, unsafe=unsafe)
    say_default_run(run, loaded)
    metrics = evaluate_run(loaded).metrics
    click.echo(f"test accuracy {metrics['test_accuracy']:.4f}, test loss {metrics['test_loss']:.4f} "
               f"on {metrics['test_images']} images")  # fmt: skip
    width = max(len(n) for n in metrics["class_names"])
    for name, row in metrics["per_class"].items():
        click.echo(f"  {name:<{width}}  precision {row['precision']:.3f}  recall {row['recall']:.3f}  f1 {row['f1']:.3f}")
    if loaded.run_dir is not None:
        click.echo(f"metrics and plots written to {loaded.run_dir}")


@cli.command(help=f"Top classes with probabilities for PNG/JPEG images of any size and colour.\n\nRUN: {RUN_HELP}.")
@click.argument("args", nargs=-1, required=True, metavar="[RUN] IMAGE...")
@click.option("--top", default=3, show_default=True, type=click.IntRange(min=1), help="How many classes to show.")
@output_dir_option
@unsafe_option
def predict(args, top, output_dir, unsafe):
    from cnnlab.evaluate import predict_probabilities
    from cnnlab.images import load_image, model_image_shape
    from cnnlab.runs import load_run

    first = Path(args[0])
    run_arg = args[0] if first.is_dir() or first.suffix == ".keras" else None
    images = args[1:] if run_arg else args
    if not images:
        raise click.UsageError("give at least one IMAGE after RUN")
    loaded = load_run(run_arg, output_dir, unsafe=unsafe)
    say_default_run(run_arg, loaded)
    h, w, c = model_image_shape(loaded.model)
    import numpy as np

    batch = np.stack([load_image(p, h, w, c) for p in images])  # (N, H, W, C) uint8
    probs = predict_probabilities(loaded.model, batch)
    for path, row in zip(images, probs):
        best = np.argsort(-row)[:top]
        click.echo(f"{path}: " + ", ".join(f"{loaded.class_names[i]} {row[i]:.3f}" for i in best))


@cli.command(
    help="Draw what a trained model learned at one layer (or all conv/pooling layers).\n\n"
    "\b\nKinds (default: all that apply to the layer):\n"
    "  filters       the layer's kernels, one colour scale centred at 0\n"
    "  histogram     weights before vs after training\n"
    "  feature-maps  every channel of the layer's output for the image\n"
    "  stats         per-channel mean activation and fraction of zeros (+ stats.json)\n"
    "  gradcam       where the image speaks for the predicted (and true) class\n"
    "  patterns      the input each filter responds to most (gradient ascent)\n\n"
    "Files go to RUN/plots/visualize/<layer>/<kind>.png.\n\n"
    f"RUN: {RUN_HELP}."
)
@click.argument("run", required=False)
@click.option("--layer", metavar="NAME",
              help="Layer name (conv2d_1), class name for its first layer (Conv2D), 'all', or a layer inside a "
                   "nested backbone (resnet50/conv1_conv, or conv1_conv when unique).")  # fmt: skip
@click.option("--image", type=click.Path(path_type=Path), help="A PNG/JPEG to look at (any size and colour).")
@click.option("--index", type=click.IntRange(min=0), help="Test-set image to look at instead  [default: 0]")
@click.option("--kind", "kinds", multiple=True, metavar="KIND", help="What to draw (repeatable or comma-separated).")
@click.option("--max-maps", default=64, show_default=True, type=click.IntRange(min=1),
              help="Most panels per grid (filters, feature maps, patterns).")  # fmt: skip
@output_dir_option
@unsafe_option
def visualize(run, layer, image, index, kinds, max_maps, output_dir, unsafe):
    from cnnlab.runs import load_run
    from cnnlab.visualize_run import visualize_run

    if image is not None and index is not None:
        raise click.UsageError("give either --image or --index, not both")
    loaded = load_run(run, output_dir, unsafe=unsafe)
    say_default_run(run, loaded)
    # A bare .keras file outside a run directory: write beside it.
    out_dir = None if loaded.run_dir is not None else Path(run).parent / "plots" / "visualize"
    written = visualize_run(loaded, layer, kinds=kinds, image=image, index=index, max_maps=max_maps,
                            out_dir=out_dir, unsafe=unsafe)  # fmt: skip
    click.echo(f"wrote {len(written)} file{'s' if len(written) != 1 else ''}:")
    for item in written:
        click.echo(f"  {item.path}" + (f"  ({item.note})" if item.note else ""))


@cli.command()
@config_options
def summary(config, overrides):
    """Build the model in CONFIG without training; show shapes, parameters and arithmetic."""
    from cnnlab.config import load_config
    from cnnlab.data import load_dataset
    from cnnlab.models import build_model
    from cnnlab.summary import describe_model

    cfg = load_config(config, overrides)
    data = load_dataset(cfg.data, cfg.seed)
    click.echo(describe_model(build_model(cfg, data.input_shape, data.num_classes)))


@cli.command()
@config_options
@click.option("--index", default=0, show_default=True, type=click.IntRange(min=0), help="Which training image.")
@click.option("--count", default=16, show_default=True, type=click.IntRange(1, 100), help="How many augmented versions.")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (default: the config's seed).")
@output_dir_option
def augment(config, overrides, index, count, seed, output_dir):
    """Preview CONFIG's augmentation: one training image, then COUNT augmented versions,
    drawn to <output-dir>/<name>/augment-preview.png."""
    from cnnlab.augment import write_preview
    from cnnlab.config import load_config

    cfg = load_config(config, overrides)
    click.echo(f"augmentation preview written to {write_preview(cfg, output_dir, index, count, seed)}")


@cli.command()
@click.argument("pattern", required=False)
def layers(pattern):
    """List the layer types a config's model.layers may use (optionally matching PATTERN)."""
    from cnnlab.layer_specs import layer_classes

    names = sorted(n for n in layer_classes() if not pattern or pattern.lower() in n.lower())
    if not names:
        raise CnnlabError(f"no layer type matches {pattern!r}; run cnnlab layers to list them all")
    click.echo("\n".join(names))


DEFAULT_FINETUNE_CONFIG = Path("configs/finetune.yaml")


@cli.command()
@click.argument("config", required=False, type=click.Path(path_type=Path))
@click.option("--backbone", required=True, metavar="NAME", help="A pretrained base (cnnlab backbones lists them).")
@click.option("--mode", type=click.Choice(["feature_extraction", "fine_tune"]), help="Frozen base, or unfreeze its top.")
@click.option("--weights", metavar="W", help="imagenet | none | a weights file | a cnnlab run directory or .keras file.")
@click.option("--unfreeze", type=click.IntRange(min=1), help="fine_tune: unfreeze the top N base layers (not BatchNorm).")
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (repeatable).")
@output_dir_option
def finetune(config, backbone, mode, weights, unfreeze, overrides, output_dir):
    """Transfer learning: a pretrained BACKBONE with a new head, trained on CONFIG's data.

    CONFIG defaults to configs/finetune.yaml (Fashion-MNIST, resized inside the model
    for the backbone); the flags override it, and --set overrides the flags."""
    from cnnlab.transfer import finetune_config

    cfg, notes = finetune_config(config or DEFAULT_FINETUNE_CONFIG, backbone, mode, weights, unfreeze, overrides)
    for note in notes:
        click.echo(f"Note: {note}", err=True)
    from cnnlab.train import train as run_training

    with stop_signals():
        run = run_training(cfg, output_dir)
    report_run(run)


@cli.command()
def backbones():
    """List the pretrained bases model.backbone.name accepts, with their input sizes."""
    from cnnlab.backbones import PREPROCESSING_MEANING, REGISTRY, RUN_BACKBONE

    click.echo(f"{'name':<18} {'min size':>9} {'default':>9}  {'preprocessing':<14} keras.applications")
    for name, b in REGISTRY.items():
        click.echo(f"{name:<18} {b.min_size:>4}x{b.min_size:<4} {b.default_size:>4}x{b.default_size:<4}  "
                   f"{b.preprocessing:<14} {b.constructor}")  # fmt: skip
    click.echo(f"{RUN_BACKBONE:<18} {'any':>9} {'its own':>9}  {'its own':<14} the conv layers of the cnnlab run in weights")
    click.echo("\npreprocessing (inside the model, so saved models take raw pixels 0..255):")
    for mode, meaning in PREPROCESSING_MEANING.items():
        click.echo(f"  {mode:<6} {meaning}")


def main():
    cli(obj={})
