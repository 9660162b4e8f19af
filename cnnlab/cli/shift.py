"""``cnnlab shift``: accuracy of one or more runs as the test images move sideways."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.cli.app import cli, output_dir_option, unsafe_option


@cli.command()
@click.argument("runs", nargs=-1, required=True, metavar="RUN...")
@click.option("--max-shift", default=6, show_default=True, type=click.IntRange(0, 27), help="Largest shift in pixels.")
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to draw the plot  [default: <output-dir>/shift.png]")  # fmt: skip
@output_dir_option
@unsafe_option
def shift(runs, max_shift, output, output_dir, unsafe):
    """Test accuracy of each RUN as every test image moves 0..N pixels to the right: why a
    CNN (shared filters, pooling) holds up where a dense network (configs/mlp.yaml) falls."""
    from cnnlab import runs as run_files
    from cnnlab.inspect.shift import plot_shift, shift_accuracy

    shifts = range(max_shift + 1)
    curves = {}
    for arg in runs:
        loaded = run_files.load_run(arg, output_dir, unsafe=unsafe)
        name = loaded.config.name if loaded.config is not None else Path(arg).stem
        curves[name if name not in curves else f"{name} ({arg})"] = shift_accuracy(loaded, shifts)
    width = max(len(n) for n in curves)
    click.echo(f"{'shift (px)':<{width}}  " + " ".join(f"{s:>6}" for s in shifts))
    for name, accuracies in curves.items():
        click.echo(f"{name:<{width}}  " + " ".join(f"{a:>6.3f}" for a in accuracies))
    path = run_files.save_figure(plot_shift(curves, shifts), output or Path(output_dir) / "shift.png")
    click.echo(f"plot written to {path}")
