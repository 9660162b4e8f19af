"""Commands that look at runs as a whole: report, runs, compare."""

from __future__ import annotations

import time
from pathlib import Path

import click

from cnnlab.cli.app import cli, echo_json, json_option, output_dir_option, unsafe_option
from cnnlab.cli.completion import complete_runs

BUDGET_HELP = "Seconds for drawing missing filter / feature-map / Grad-CAM pictures (0: draw none)."


@cli.command()
@click.argument("run", required=False, shell_complete=complete_runs)
@click.option("--budget", default=60.0, show_default=True, type=click.FloatRange(min=0), help=BUDGET_HELP)
@output_dir_option
@unsafe_option
def report(run, budget, output_dir, unsafe):
    """Write RUN/report.html: one self-contained page (opens offline, fetches nothing)
    with the run's status, config, layers, curves, test metrics, mistakes, what the
    network learned, and the environment.

    RUN: a run directory (default: the newest run under --output-dir). A run with
    missing or damaged files still gets a page that says what is missing."""
    from cnnlab.inspect.report import write_report
    from cnnlab.runs import RunDir, newest

    if run is None:
        run, chosen = newest(output_dir, "any")
        click.echo(chosen, err=True)
    written = write_report(Path(run), visualize_budget=budget, unsafe=unsafe, say=lambda line: click.echo(line, err=True))
    for problem in written.problems:
        click.echo(f"Note: {problem}", err=True)
    if written.drawn:
        click.echo(f"drew {len(written.drawn)} missing picture{'s' * (len(written.drawn) != 1)} under {RunDir(run).visualize_dir}")
    click.echo(f"report written to {written.path}")


@cli.command(name="runs")
@output_dir_option
@click.option("--json", "as_json", is_flag=True, help="Print the table as JSON (one object per run).")
def runs_command(output_dir, as_json):
    """List every run under --output-dir, newest first: name, start, status, epochs,
    best epoch, test accuracy, training time, parameters and path. Interrupted, failed
    and damaged runs are listed with what can be read."""
    from cnnlab.runs.table import format_runs, list_runs

    rows = list_runs(output_dir)
    if as_json:
        echo_json(rows)
    elif not rows:
        click.echo(f"no runs under {output_dir}/ yet; train one with: cnnlab train configs/fashion.yaml")
    else:
        click.echo(format_runs(rows))


@cli.command()
@click.argument("run_dirs", nargs=-1, required=True, metavar="RUN RUN...", shell_complete=complete_runs)
@click.option("--output", type=click.Path(dir_okay=False, path_type=Path),
              help="Where to write the overlaid curves PNG  [default: <output-dir>/compare-<time>.png]")  # fmt: skip
@click.option("--html", "html_path", type=click.Path(dir_okay=False, path_type=Path),
              help="Also write the comparison as one self-contained HTML page here.")  # fmt: skip
@output_dir_option
@json_option
def compare(run_dirs, output, html_path, output_dir, as_json):
    """Compare runs: a table of their metrics and parameters, their loss/accuracy curves
    overlaid (PNG), and the config keys that differ."""
    from cnnlab.inspect.compare import compare_runs, write_curves, write_html

    if len(run_dirs) < 2:
        raise click.UsageError("give at least two runs to compare (cnnlab runs lists them)")
    comparison = compare_runs(run_dirs)
    if as_json:  # the numbers only: no pictures are drawn
        echo_json(comparison.to_json())
        return
    click.echo(comparison.text())
    output = output or Path(output_dir) / f"compare-{time.strftime('%Y%m%d-%H%M%S')}.png"
    curves = write_curves(comparison, output)
    click.echo("\n" + (f"curves written to {curves}" if curves else "no curves: none of the runs has a readable history.csv"))
    if html_path is not None:
        click.echo(f"page written to {write_html(comparison, html_path)}")
