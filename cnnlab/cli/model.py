"""Commands about models before training: summary, layers, backbones."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.cli.app import cli
from cnnlab.errors import CnnlabError


DEFAULT_SUMMARY_CONFIG = Path("configs/fashion.yaml")


@cli.command()
@click.argument("config", required=False, type=click.Path(path_type=Path))
@click.option("--set", "overrides", multiple=True, metavar="KEY=VALUE", help="Override a config key (repeatable).")
@click.option("--input", "input_size", metavar="HxWxC",
              help="Any input size (e.g. 1080x1920x3): shapes and parameters without loading data or building "
                   "the model. CONFIG then defaults to configs/fashion.yaml.")  # fmt: skip
def summary(config, overrides, input_size):
    """Build the model in CONFIG without training; show shapes, parameters and arithmetic."""
    from cnnlab.config import load_config

    if input_size is not None:
        from cnnlab.model.shapes import describe_specs, parse_input_size

        size = parse_input_size(input_size)
        click.echo(describe_specs(load_config(config or DEFAULT_SUMMARY_CONFIG, overrides), size))
        return
    if config is None:
        raise click.UsageError("give CONFIG (or --input HxWxC for any input size)")
    from cnnlab.data import load_dataset
    from cnnlab.model import build_model, check_model
    from cnnlab.model.summary import describe_model
    from cnnlab.train.phases import describe_phases

    cfg = load_config(config, overrides)
    check_model(cfg)
    data = load_dataset(cfg.data, cfg.seed)
    model = build_model(cfg, data.input_shape, data.num_classes)
    click.echo(describe_model(model))
    phases = describe_phases(model, cfg)
    if phases:
        click.echo("\n" + phases)


@cli.command()
@click.argument("pattern", required=False)
def layers(pattern):
    """List the layer types a config's model.layers may use (optionally matching PATTERN)."""
    from cnnlab.model.layer_specs import layer_classes

    names = sorted(n for n in layer_classes() if not pattern or pattern.lower() in n.lower())
    if not names:
        raise CnnlabError(f"no layer type matches {pattern!r}; run cnnlab layers to list them all")
    click.echo("\n".join(names))


@cli.command()
def backbones():
    """List the pretrained bases model.backbone.name accepts, with their input sizes."""
    from cnnlab.config.backbones import PREPROCESSING_MEANING, REGISTRY, RUN_BACKBONE

    click.echo(f"{'name':<18} {'min size':>9} {'default':>9}  {'preprocessing':<14} keras.applications")
    for name, b in REGISTRY.items():
        click.echo(f"{name:<18} {b.min_size:>4}x{b.min_size:<4} {b.default_size:>4}x{b.default_size:<4}  "
                   f"{b.preprocessing:<14} {b.constructor}")  # fmt: skip
    click.echo(f"{RUN_BACKBONE:<18} {'any':>9} {'its own':>9}  {'its own':<14} the conv layers of the cnnlab run in weights")
    click.echo("\npreprocessing (inside the model, so saved models take raw pixels 0..255):")
    for mode, meaning in PREPROCESSING_MEANING.items():
        click.echo(f"  {mode:<6} {meaning}")
