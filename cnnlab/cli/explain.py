"""`cnnlab explain ...`: the concept lab on the learner's own numbers."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.cli.app import RUN_HELP, cli, output_dir_option, say_default_run, unsafe_option
from cnnlab.cli.completion import complete_runs

MATRIX_HELP = ('a matrix: inline "1 2; 3 4" (rows by ";", values by spaces or commas, channels by "|"), '
               "a .csv/.txt/.npy file, or a preset (cnnlab explain presets)")
DEFAULT_DIR = Path("outputs") / "explain"


def output_option(f):
    return click.option("--output", "output", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help=f"Where to write the picture (default: {DEFAULT_DIR}/<topic>.png).")(f)


def decimals_option(f):
    return click.option("--decimals", type=click.IntRange(0, 8), default=2, show_default=True,
                        help="Decimal places in printed and drawn numbers.")(f)


def html_option(f):
    return click.option("--html", "html", type=click.Path(dir_okay=False, path_type=Path), default=None,
                        help="Also write an interactive page here: one HTML file that works offline.")(f)


def show(lesson, output: Path | None, page: tuple[str, Path] | None = None) -> None:
    """Print the lesson, then save its picture atomically and say where; ``page``:
    (HTML text, path) of the interactive page, built before anything is printed."""
    from cnnlab.runs import save_figure

    click.echo(lesson.text)
    path = output or DEFAULT_DIR / f"{lesson.topic}.png"
    save_figure(lesson.figure, path)
    click.echo(f"\npicture: {path}")
    if page:
        write_html(*page)


def write_html(text: str, path: Path) -> None:
    from cnnlab.explain.page import write_page

    write_html_done(write_page(text, path))


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
      cnnlab explain lab                                     # all of it in one interactive page
      cnnlab explain conv --input digit9 --filter loop --html nine.html
      cnnlab explain network outputs/fashion/<stamp>         # your model's maps: RUN/network.html
      cnnlab explain learn-kernel --html learn.html          # gradient descent finds a filter
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
@html_option
def conv(input_spec, filter_spec, kernel, stride, padding, bias, scale, relu, filters, cells, max_panels,
         decimals, output, html):
    """Slide a filter over an input: padded input, size rule, each multiply-and-sum, the map."""
    from cnnlab.explain.lessons import conv_lesson

    lesson = conv_lesson(input_spec, filter_spec, kernel=kernel, stride=stride, padding=padding, bias=bias,
                         scale=scale, relu=relu, filters=filters, max_panels=max_panels, cells=cells,
                         decimals=decimals)
    page = None
    if html:
        from cnnlab.explain import lab

        state = lab.conv_state(input_spec, filter_spec, kernel=kernel, stride=stride, padding=padding, bias=bias,
                               scale=scale, relu_on=relu)
        page = lab.lab_page(state, "cnnlab explain conv", decimals), html
    show(lesson, output, page)


@explain.command()
@click.option("--input", "input_spec", required=True, help=MATRIX_HELP + ".")
@click.option("--size", type=int, default=2, show_default=True, help="Window size (size x size).")
@click.option("--stride", type=int, default=None, help="Window step (default: the window size).")
@decimals_option
@output_option
@html_option
def pool(input_spec, size, stride, decimals, output, html):
    """Max, average, min and global-average pooling side by side on one matrix."""
    from cnnlab.explain.lessons import pool_lesson

    lesson = pool_lesson(input_spec, size, stride, decimals)
    page = None
    if html:
        from cnnlab.explain import lab

        page = lab.lab_page(lab.pool_state(input_spec, size, stride), "cnnlab explain pool", decimals), html
    show(lesson, output, page)


@explain.command()
@click.option("--input", "input_spec", required=True, help=MATRIX_HELP + ".")
@decimals_option
@output_option
@html_option
def relu(input_spec, decimals, output, html):
    """ReLU, max(0, x), on a grid: before and after."""
    from cnnlab.explain.lessons import relu_lesson

    lesson = relu_lesson(input_spec, decimals)
    page = None
    if html:
        from cnnlab.explain import lab

        page = lab.lab_page(lab.relu_state(input_spec), "cnnlab explain relu", decimals), html
    show(lesson, output, page)


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


@explain.command("lab")
@click.option("--input", "input_spec", default="digit9", show_default=True, help=MATRIX_HELP + ".")
@click.option("--filter", "filter_specs", multiple=True,
              help="A filter (repeat for several: each makes its own map); also 'diagonal' and 'vline'. Default: loop.")
@click.option("--stride", type=int, default=1, show_default=True, help="The convolution's stride.")
@click.option("--padding", default="valid", show_default=True, help="valid, same, or N rings of zeros.")
@click.option("--pool-size", type=int, default=2, show_default=True, help="Pooling window (size x size).")
@click.option("--pool-stride", type=int, default=1, show_default=True, help="Pooling stride (the lecture uses 1).")
@decimals_option
@click.option("--html", "html", type=click.Path(dir_okay=False, path_type=Path), default=DEFAULT_DIR / "lab.html",
              show_default=True, help="Where to write the page.")
def lab(input_spec, filter_specs, stride, padding, pool_size, pool_stride, decimals, html):
    """An interactive page: conv -> ReLU -> pool on your numbers, every lecture example a preset.

    \b
    Examples:
      cnnlab explain lab                                   # the 9, loop filter, ReLU, 2x2 max pool at stride 1
      cnnlab explain lab --filter loop --filter diagonal   # two filters, two maps
    """
    from cnnlab.explain import lab as lab_mod

    state = lab_mod.lab_state(input_spec, filter_specs or ("loop",), stride=stride, padding=padding,
                              pool_size=pool_size, pool_stride=pool_stride)
    write_html(lab_mod.lab_page(state, "cnnlab explain lab", decimals), html)


@explain.command(help="Your trained model on one image, as an interactive page: every layer's feature maps, the "
                      "class probabilities; click a map for its filter, the input it convolved and its numbers.\n\n"
                      f"RUN: {RUN_HELP}. The page goes to RUN/network.html unless --html says otherwise.")
@click.argument("run", required=False, shell_complete=complete_runs)
@click.option("--index", type=click.IntRange(min=0), help="Test-set image to look at  [default: 0]")
@click.option("--image", type=click.Path(path_type=Path), help="A PNG/JPEG to look at instead (any size and colour).")
@click.option("--max-maps", default=None, type=click.IntRange(1, 512),
              help="Most maps per layer  [default: 64, or 16 inside a pretrained backbone]")
@click.option("--html", "html", type=click.Path(dir_okay=False, path_type=Path), default=None,
              help="Where to write the page  [default: RUN/network.html]")
@output_dir_option
@unsafe_option
def network(run, index, image, max_maps, html, output_dir, unsafe):
    from cnnlab.inspect.network_page import NETWORK_PAGE, write_network_page
    from cnnlab.runs import load_run

    if image is not None and index is not None:
        raise click.UsageError("give either --image or --index, not both")
    loaded = load_run(run, output_dir, unsafe=unsafe)
    say_default_run(run, loaded)
    if html is None and loaded.run_dir is None:  # a bare .keras file: the page goes beside it
        html = Path(run).parent / NETWORK_PAGE
    write_html_done(write_network_page(loaded, html, image=image, index=index, max_maps=max_maps))


def write_html_done(path: Path) -> None:
    click.echo(f"page: {path}  (open it in a browser; nothing is fetched)")


@explain.command("learn-kernel")
@click.option("--filter", "filter_spec", default="vertical", show_default=True,
              help="The hidden filter to recover: " + MATRIX_HELP + ".")
@click.option("--steps", type=int, default=20, show_default=True, help="Gradient-descent steps.")
@click.option("--lr", type=float, default=0.3, show_default=True, help="Learning rate.")
@click.option("--pairs", type=int, default=4, show_default=True, help="Input/output pairs to learn from.")
@click.option("--size", type=int, default=6, show_default=True, help="Each input image is size x size.")
@click.option("--seed", type=int, default=0, show_default=True, help="Seed for the random +-1 images.")
@click.option("--decimals", type=click.IntRange(0, 8), default=3, show_default=True, help="Decimal places.")
@html_option
def learn_kernel(filter_spec, steps, lr, pairs, size, seed, decimals, html):
    """Recover a known filter from input/output pairs by gradient descent, step by step."""
    from cnnlab.explain import learn
    from cnnlab.explain.matrices import load_matrix

    result = learn.learn(load_matrix(filter_spec, "--filter"), steps=steps, lr=lr, pairs=pairs, size=size, seed=seed)
    page = learn.learn_page(result, decimals) if html else None
    click.echo(learn.learn_text(result, decimals))
    if page:
        write_html(page, html)
