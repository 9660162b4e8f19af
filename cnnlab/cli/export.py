"""cnnlab export: SavedModel / TFLite / ONNX artifacts, verified against the run."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.cli.app import RUN_HELP, cli, output_dir_option, say_default_run, unsafe_option
from cnnlab.cli.completion import choices, complete_runs

FORMAT_CHOICES = ("savedmodel", "tflite", "onnx", "all")  # cnnlab.export.formats.FORMATS, without importing it


@cli.command(
    help="Export a trained model as SavedModel, TFLite or ONNX, verified against the Keras model.\n\n"
    "Every artifact takes raw uint8 pixels (None, H, W, C) named 'image' and returns softmax "
    "'probabilities', with augmentation off and the class names beside it (labels.txt, cnnlab.json, "
    "and inside the file where the format has room). Before it is kept, it runs in its own runtime on "
    "test images of the run; the comparison goes to RUN/export/verify.json.\n\n"
    "\b\nQuantization (TFLite and ONNX: all; SavedModel: none):\n"
    "  none     float32, within 1e-4 of Keras\n"
    "  dynamic  int8 weights, float activations (~4x smaller)\n"
    "  float16  float16 weights (~2x smaller)\n"
    "  int8     int8 everywhere, uint8 pixels in and uint8 probabilities out\n"
    "           (ONNX: float probabilities out), calibrated on --representative\n"
    "           training images\n\n"
    "Files go to RUN/export/<format>[-<quantize>]/ unless --output.\n\n"
    f"RUN: {RUN_HELP}."
)
@click.argument("run", required=False, shell_complete=complete_runs)
@click.option("--format", "formats", multiple=True, required=True, metavar="FORMAT",
              shell_complete=choices(lambda: FORMAT_CHOICES),
              help=f"{' | '.join(FORMAT_CHOICES)} (repeatable or comma-separated).")  # fmt: skip
@click.option("--quantize", default="none", show_default=True,
              type=click.Choice(["none", "dynamic", "float16", "int8"]), help="Post-training quantization.")  # fmt: skip
@click.option("--output", type=click.Path(file_okay=False, path_type=Path),
              help="Export folder instead of RUN/export (one sub-folder per format).")  # fmt: skip
@click.option("--representative", default=300, show_default=True, type=click.IntRange(min=1),
              help="int8: training images to calibrate on.")  # fmt: skip
@click.option("--verify-images", default=300, show_default=True, type=click.IntRange(min=1),
              help="Test images to compare the artifact with the Keras model on.")  # fmt: skip
@output_dir_option
@unsafe_option
def export(run, formats, quantize, output, representative, verify_images, output_dir, unsafe):
    from cnnlab.export import export_run
    from cnnlab.export.formats import check_quantize, resolve_formats
    from cnnlab.export.verify import summary_line
    from cnnlab.runs import RunDir, load_run

    check_quantize(resolve_formats(formats), quantize)  # fail before TensorFlow starts
    loaded = load_run(run, output_dir, unsafe=unsafe)
    say_default_run(run, loaded)
    if output is None and loaded.run_dir is None:
        output = Path(run).parent / RunDir.EXPORT  # a bare .keras file: beside it
    results = export_run(loaded, formats, quantize, output, representative=representative,
                         verify_images=verify_images, report=lambda line: click.echo(line, err=True))  # fmt: skip
    for result in results:
        click.echo(summary_line(result.name, result.verification))
        click.echo(f"  wrote {result.path} ({result.size_bytes / 2**20:.2f} MB)")
    if results:
        click.echo(f"verification written to {results[0].path.parent.parent / RunDir.VERIFY}")
