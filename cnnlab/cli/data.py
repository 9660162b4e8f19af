"""Commands about the data: the augmentation preview."""

from __future__ import annotations


import click

from cnnlab.cli.app import cli, config_options, output_dir_option


@cli.command()
@config_options
@click.option("--index", default=0, show_default=True, type=click.IntRange(min=0), help="Which training image.")
@click.option("--count", default=16, show_default=True, type=click.IntRange(1, 100), help="How many augmented versions.")
@click.option("--seed", type=click.IntRange(min=0), help="Random seed (default: the config's seed).")
@output_dir_option
def augment(config, overrides, index, count, seed, output_dir):
    """Preview CONFIG's augmentation: one training image, then COUNT augmented versions,
    drawn to <output-dir>/<name>/augment-preview.png."""
    from cnnlab.inspect.preview import write_preview
    from cnnlab.config import load_config

    cfg = load_config(config, overrides)
    click.echo(f"augmentation preview written to {write_preview(cfg, output_dir, index, count, seed)}")
