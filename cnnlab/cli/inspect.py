"""Commands that look at a trained run: evaluate, predict, visualize."""

from __future__ import annotations

from pathlib import Path

import click

from cnnlab.cli.app import RUN_HELP, cli, echo_json, json_option, output_dir_option, say_default_run, unsafe_option
from cnnlab.cli.completion import choices, complete_runs, kind_names


MAX_TTA = 64  # each copy is a full pass over the images: 64 already costs 64x the plain prediction

# The choices of cnnlab.data.photos (FITS, INVERTS), spelled here so that --help does not import
# numpy and the data package; a test keeps the two the same.
FITS = ("stretch", "pad", "crop")
INVERTS = ("auto", "yes", "no")
FIT_HELP = ("How a photo whose shape differs from the model's input is made to fit: stretch (squash it), "
            "pad (keep its aspect, fill the sides with its own background colour) or crop (keep its aspect, "
            "cut the centre).")  # fmt: skip
INVERT_HELP = ("Invert the photo's brightness: auto (when its background is light and the training images' "
               "is dark, or the other way round), yes, or no.")  # fmt: skip


def photo_options(f):
    """--fit and --invert: how predict and visualize --image read a photo (cnnlab.data.photos)."""
    f = click.option("--invert", type=click.Choice(INVERTS), default="auto", show_default=True, help=INVERT_HELP)(f)
    return click.option("--fit", type=click.Choice(FITS), default="stretch", show_default=True, help=FIT_HELP)(f)


def tta_option(f):
    return click.option("--tta", type=click.IntRange(min=1, max=MAX_TTA), metavar="N",
                        help=f"Test-time augmentation: average over N copies (at most {MAX_TTA}) augmented by the "
                             "run's own augmentation block.")(f)  # fmt: skip


@cli.command(help=f"Evaluate a trained model on its dataset's test split.\n\nRUN: {RUN_HELP}.")
@click.argument("run", required=False, shell_complete=complete_runs)
@tta_option
@output_dir_option
@unsafe_option
@json_option
def evaluate(run, tta, output_dir, unsafe, as_json):
    from cnnlab.inspect.evaluate import evaluate_run
    from cnnlab.runs import load_run

    loaded = load_run(run, output_dir, unsafe=unsafe)
    say_default_run(run, loaded)
    if tta:
        from cnnlab.inspect.tta import augmentation_block, tta_run

        augmentation_block(loaded.model)  # no augmentation: say so before evaluating
    metrics = evaluate_run(loaded, progress=click.echo if not as_json else None).metrics
    if as_json:
        if tta:
            metrics = {**metrics, "tta": tta_run(loaded, tta)}
        echo_json(metrics)
        return
    from cnnlab.errors import printable
    from cnnlab.inspect.tta_views import tta_text

    click.echo(f"test accuracy {metrics['test_accuracy']:.4f}, test loss {metrics['test_loss']:.4f} "
               f"on {metrics['test_images']} images{tta_text(metrics)}")  # fmt: skip

    width = max(len(printable(n)) for n in metrics["class_names"])
    for name, row in metrics["per_class"].items():
        click.echo(f"  {printable(name):<{width}}  precision {row['precision']:.3f}  recall {row['recall']:.3f}  f1 {row['f1']:.3f}")
    if tta:
        result = tta_run(loaded, tta)
        click.echo(f"test accuracy {result['tta_accuracy']:.4f} with TTA over {tta} augmented copies "
                   f"(without: {result['accuracy']:.4f})")  # fmt: skip
    if loaded.run_dir is not None:
        click.echo(f"metrics and plots written to {loaded.run_dir}")


@cli.command(help=f"Top classes with probabilities for PNG/JPEG images of any size and colour.\n\nRUN: {RUN_HELP}, "
             "or a model written by cnnlab export (.tflite, .onnx, SavedModel directory).")
@click.argument("args", nargs=-1, required=True, metavar="[RUN] IMAGE...", shell_complete=complete_runs)
@click.option("--top", default=3, show_default=True, type=click.IntRange(min=1), help="How many classes to show.")
@photo_options
@tta_option
@output_dir_option
@unsafe_option
@json_option
def predict(args, top, fit, invert, tta, output_dir, unsafe, as_json):
    from cnnlab.data.images import model_image_shape
    from cnnlab.data.photos import read_photo
    from cnnlab.errors import printable
    from cnnlab.export.loaders import is_exported, load_exported
    from cnnlab.inspect.evaluate import predict_probabilities
    from cnnlab.runs import load_run

    first = Path(args[0])
    exported = first.suffix in (".tflite", ".onnx") or is_exported(first)  # cnnlab export's artifacts
    run_arg = args[0] if exported or first.is_dir() or first.suffix == ".keras" else None
    images = args[1:] if run_arg else args
    if not images:
        raise click.UsageError("give at least one IMAGE after RUN")
    if exported:  # run in its own runtime (TF, LiteRT, onnxruntime), same output as for a run
        artifact = load_exported(first, unsafe=unsafe)
        (h, w, c), class_names, predict_fn = artifact.image_shape, artifact.class_names, artifact.predict
        reference = exported_background(artifact.path) if invert != "yes" else None
    else:
        loaded = load_run(run_arg, output_dir, unsafe=unsafe)
        say_default_run(run_arg, loaded)
        (h, w, c), class_names = model_image_shape(loaded.model), loaded.class_names
        predict_fn = lambda batch: predict_probabilities(loaded.model, batch)  # noqa: E731
        reference = None
        if invert != "yes":
            from cnnlab.inspect.evaluate import run_background

            reference, problem = run_background(loaded)
            if problem:
                click.echo(problem, err=True)
    import numpy as np

    photos = [read_photo(p, h, w, c, fit=fit, invert=invert, reference=reference) for p in images]
    for photo in photos:
        if photo.note:
            click.echo(photo.note, err=True)
    batch = np.stack([photo.pixels for photo in photos])  # (N, H, W, C) uint8
    if tta:
        if exported:
            raise click.UsageError("--tta needs a run (its augmentation block), not an exported model")
        from cnnlab.inspect.tta import tta_probabilities

        probs = tta_probabilities(loaded.model, batch, tta)  # averaged over TTA augmented copies
    else:
        probs = predict_fn(batch)
    tops = [(path, np.argsort(-row)[:top], row) for path, row in zip(images, probs)]
    if as_json:
        echo_json([{"image": str(path), "top": [{"class": class_names[i], "probability": float(row[i])} for i in best]}
                   for path, best, row in tops])  # fmt: skip
        return
    for path, best, row in tops:
        click.echo(f"{printable(path)}: " + ", ".join(f"{printable(class_names[i])} {row[i]:.3f}" for i in best))


def exported_background(path) -> float | None:
    """The training images' background the exporter recorded in cnnlab.json, if any."""
    from cnnlab.export.graph import metadata_from_dir

    folder = Path(path) if Path(path).is_dir() else Path(path).parent
    try:
        level = metadata_from_dir(folder).get("background")
    except (OSError, ValueError, AttributeError):
        level = None
    return float(level) if isinstance(level, (int, float)) else None


class KindsHelpCommand(click.Command):
    """Lists the registered visualization kinds in --help, read from the registry
    (cnnlab.inspect.kinds) only when the help is shown, so the CLI starts instantly."""

    def format_help_text(self, ctx, formatter):
        if "{kinds}" in self.help:
            from cnnlab.inspect.kinds import help_text

            self.help = self.help.replace("{kinds}", help_text())
        super().format_help_text(ctx, formatter)


@cli.command(
    cls=KindsHelpCommand,
    help="Draw what a trained model learned at one layer (or all conv/pooling layers).\n\n"
    "\b\nKinds (default: all that apply to the layer):\n{kinds}\n\n"
    "Files go to RUN/plots/visualize/<layer>/<kind>.png (<kind>-test4.png, <kind>-photo-NAME.png for other "
    "images than test #0).\n\n"
    "Grad-CAM defaults to the last conv layer, wherever --layer points: its maps are the most "
    "class-specific that still keep positions, while an early layer's maps are edges and textures, and its "
    "Grad-CAM is usually flat (no positive evidence). --layer X --kind gradcam draws it at X anyway.\n\n"
    f"RUN: {RUN_HELP}.",
)
@click.argument("run", required=False, shell_complete=complete_runs)
@click.option("--layer", metavar="NAME",
              help="Layer name (conv2d_1), class name for its first layer (Conv2D), 'all', or a layer inside a "
                   "nested backbone (resnet50/conv1_conv, or conv1_conv when unique).")  # fmt: skip
@click.option("--image", type=click.Path(path_type=Path), help="A PNG/JPEG to look at (any size and colour).")
@click.option("--index", type=click.IntRange(min=0), help="Test-set image to look at instead  [default: 0]")
@click.option("--kind", "kinds", multiple=True, metavar="KIND", shell_complete=choices(kind_names), help="What to draw (repeatable or comma-separated).")
@click.option("--max-maps", default=64, show_default=True, type=click.IntRange(min=1),
              help="Most panels per grid (filters, feature maps, patterns).")  # fmt: skip
@click.option("--shared-scale", is_flag=True,
              help="Feature maps on one scale centred at 0, with a colour bar (compare channels; see negatives).")
@click.option("--before", is_flag=True, help="Also draw the filters as they were before training (filters-before.png).")
@photo_options
@output_dir_option
@unsafe_option
def visualize(run, layer, image, index, kinds, max_maps, shared_scale, before, fit, invert, output_dir, unsafe):
    from cnnlab.inspect.visualize import visualize_run
    from cnnlab.runs import RunDir, load_run

    if image is not None and index is not None:
        raise click.UsageError("give either --image or --index, not both")
    loaded = load_run(run, output_dir, unsafe=unsafe)
    say_default_run(run, loaded)
    # A bare .keras file outside a run directory: write beside it.
    out_dir = None if loaded.run_dir is not None else RunDir(Path(run).parent).visualize_dir
    written = visualize_run(loaded, layer, kinds=kinds, image=image, index=index, max_maps=max_maps,
                            out_dir=out_dir, unsafe=unsafe, shared_scale=shared_scale, before=before, fit=fit,
                            invert=invert, progress=click.echo)  # fmt: skip
    click.echo(f"wrote {len(written)} file{'s' if len(written) != 1 else ''}:")
    for item in written:
        click.echo(f"  {item.path}" + (f"  ({item.note})" if item.note else ""))
