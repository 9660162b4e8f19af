"""`cnnlab explain ...`: the concept lab on the learner's own numbers."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.cli.app import cli

MATRIX_HELP = ('a matrix: inline "1 2; 3 4" (rows by ";", values by spaces or commas, channels by "|"), '
               "a .csv/.txt/.npy file, or a preset (cnnlab explain presets)")
DEFAULT_DIR = Path("outputs") / "explain"


def output_option(f):
    return click.option("--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help=f"Where to write the picture (default: {DEFAULT_DIR}/<topic>.png).")(f)


def decimals_option(f):
    return click.option("--decimals", type=click.IntRange(0, 8), default=2, show_default=True,
                        help="Decimal places in printed and drawn numbers.")(f)


def show(lesson, output: Path | None) -> None:
    """Print the lesson, then save its picture atomically and say where."""
    from cnnlab.runs import save_figure

    click.echo(lesson.text)
    path = output or DEFAULT_DIR / f"{lesson.topic}.png"
    save_figure(lesson.figure, path)
    click.echo(f"\npicture: {path}")


@cli.group()
def explain():
    """Work CNN concepts out on your own numbers: conv, pool, relu, xor.

    \b
    Examples:
      cnnlab explain conv --input digit9 --filter loop       # the map starts -0.11, 1, -0.11
      cnnlab explain conv --input "1 2 3; 4 5 6; 7 8 9" --filter "1 0; 0 -1" --padding same
      cnnlab explain conv --input 7x7 --kernel 3 --stride 2  # sizes only: why padding exists
      cnnlab explain pool --input pool4x4
      cnnlab explain relu --input "-1 2; 3 -4"
      cnnlab explain xor --activation relu
    """


@explain.command()
@click.option("--input", "input_spec", required=True, help=MATRIX_HELP + ", or a size HxW[xC] like 7x7 for sizes only.")
@click.option("--filter", "filter_spec", default=None, help="The filter, same syntax (FHxFW, or FHxFWxC for C channels).")
@click.option("--kernel", default=None, help="Sizes only: the filter size, 3 or 3x5 (default 3).")
@click.option("--stride", type=int, default=1, show_default=True, help="Pixels the window moves each step.")
@click.option("--padding", default="valid", show_default=True, help="valid, same, or N rings of zeros.")
@click.option("--bias", type=float, default=0.0, show_default=True, help="Added to every output cell.")
@click.option("--scale", default=None, help="Multiply the filter by this, e.g. 1/9.")
@click.option("--relu", is_flag=True, help="Also show the map after ReLU.")
@click.option("--filters", type=int, default=1, show_default=True, help="Sizes only: filters in the layer (parameter count).")
@click.option("--cells", type=click.IntRange(0), default=2, show_default=True, help="Output cells whose sums are written out.")
@click.option("--max-panels", type=int, default=16, show_default=True, help="At most this many per-cell panels.")
@decimals_option
@output_option
def conv(input_spec, filter_spec, kernel, stride, padding, bias, scale, relu, filters, cells, max_panels,
         decimals, output):
    """Slide a filter over an input: padded input, size rule, each multiply-and-sum, the map."""
    from cnnlab.explain.lessons import conv_lesson

    show(conv_lesson(input_spec, filter_spec, kernel=kernel, stride=stride, padding=padding, bias=bias,
                     scale=scale, relu=relu, filters=filters, max_panels=max_panels, cells=cells,
                     decimals=decimals), output)


@explain.command()
@click.option("--input", "input_spec", required=True, help=MATRIX_HELP + ".")
@click.option("--size", type=int, default=2, show_default=True, help="Window size (size x size).")
@click.option("--stride", type=int, default=None, help="Window step (default: the window size).")
@decimals_option
@output_option
def pool(input_spec, size, stride, decimals, output):
    """Max, average, min and global-average pooling side by side on one matrix."""
    from cnnlab.explain.lessons import pool_lesson

    show(pool_lesson(input_spec, size, stride, decimals), output)


@explain.command()
@click.option("--input", "input_spec", required=True, help=MATRIX_HELP + ".")
@decimals_option
@output_option
def relu(input_spec, decimals, output):
    """ReLU, max(0, x), on a grid: before and after."""
    from cnnlab.explain.lessons import relu_lesson

    show(relu_lesson(input_spec, decimals), output)


@explain.command()
@click.option("--activation", type=click.Choice(["sigmoid", "relu"]), default="sigmoid", show_default=True,
              help="The hidden units' activation.")
@click.option("--train", is_flag=True, help="Also train the same 2-2-1 network with Keras (seeded, a few seconds).")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for --train.")
@decimals_option
@output_option
def xor(activation, train, seed, decimals, output):
    """XOR: why one linear unit fails and a hidden layer of 2 units works."""
    from cnnlab.explain.lessons import xor_lesson

    show(xor_lesson(activation, train=train, seed=seed, decimals=decimals), output)


@explain.command()
def presets():
    """List the built-in matrices --input and --filter accept by name."""
    from cnnlab.explain.lessons import preset_table

    click.echo(preset_table())
