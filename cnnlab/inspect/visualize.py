"""``cnnlab visualize``: pick the layers, the kinds and the image, then let each
registered kind (cnnlab.inspect.kinds) draw into RUN/plots/visualize/<layer>/<kind>.png.

    from cnnlab.runs import load_run
    from cnnlab.inspect.visualize import visualize_run
    for written in visualize_run(load_run("outputs/fashion/20260101-120000"), "conv2d"):
        print(written.path)
"""

from __future__ import annotations

from pathlib import Path
from typing import Callable

import numpy as np

from cnnlab import runs
from cnnlab.data.images import model_image_shape
from cnnlab.data.photos import read_photo
from cnnlab.errors import DataError, ModelError, RunError
from cnnlab.inspect import probes
from cnnlab.inspect.evaluate import run_background, run_test_data
from cnnlab.inspect.kinds import KINDS, ChosenImage, DrawContext, Written, applicable_kinds, check_kinds, default_kinds, parse_kinds
from cnnlab.inspect.kinds.histogram import InitialWeights
from cnnlab.inspect.layer_paths import LayerRef, find_layers, last_map_layer, output_shape, shown_layers, walk
from cnnlab.model.summary import shape_text

STATS_IMAGES = 256  # stats over this many test images: one image says little about a dead filter

__all__ = ["Written", "choose_image", "plan_layers", "test_split", "visualize_run"]


def plan_layers(model, layer: str | None, kinds) -> list[tuple[LayerRef, list[str]]]:
    """--layer and --kind -> [(layer, kinds to draw)], or a ModelError that says what applies."""
    requested = parse_kinds(kinds)
    if layer is None:
        if requested != ["gradcam"]:
            raise ModelError(
                "give --layer NAME (only --kind gradcam defaults to the last conv layer); " + shown_layers(walk(model))
            )
        refs = [last_map_layer(model)]
    else:
        refs = find_layers(model, layer)
    plan = []
    moved = False  # a default Grad-CAM moved to the last conv layer
    for ref in refs:
        if requested and len(refs) == 1:
            check_kinds(ref, requested)
        applicable = applicable_kinds(ref.layer)
        chosen = [k for k in requested if k in applicable] if requested else default_kinds(ref.layer)
        if not requested and GRADCAM in chosen and not is_last_map_layer(model, ref):
            chosen.remove(GRADCAM)  # an early layer's Grad-CAM is flat: see GRADCAM_WHY
            moved = True
        if chosen:
            plan.append((ref, chosen))
    if moved and not any(GRADCAM in ks for _, ks in plan):
        plan.append((last_map_layer(model), [GRADCAM]))
    if not plan:
        if len(refs) == 1:
            ref = refs[0]
            raise ModelError(
                f"layer {ref.path!r} ({ref.class_name}) outputs {shape_text(output_shape(ref.layer), 'an unknown shape')}, "
                f"not a 4-D feature map, and has no weights: nothing to draw; {shown_layers(walk(model))}"
            )
        raise ModelError(f"none of the layers {layer!r} means can draw {', '.join(requested)}")
    return plan


GRADCAM = "gradcam"
GRADCAM_WHY = ("Grad-CAM is drawn at the last conv layer unless --kind gradcam asks for another: its maps are "
               "the most class-specific that still keep positions; an early layer's maps are edges and textures, "
               "and its Grad-CAM is usually flat (no positive evidence)")  # fmt: skip


def is_last_map_layer(model, ref: LayerRef) -> bool:
    try:
        return last_map_layer(model).path == ref.path
    except ModelError:  # no conv layer at all: Grad-CAM stays where it was asked
        return True


def visualize_run(loaded, layer: str | None = None, *, kinds=(), image: str | Path | None = None,
                  index: int | None = None, max_maps: int = 64, out_dir: Path | None = None,
                  unsafe: bool = False, shared_scale: bool = False, before: bool = False, fit: str = "stretch",
                  invert: str = "auto", progress: Callable[[str], None] | None = None) -> list[Written]:  # fmt: skip
    """Draw the asked-for kinds for each layer; return the written files in order.
    ``unsafe`` as for load_run: the histogram reloads the run's model for its initial weights.
    ``shared_scale``: feature maps on one zero-centred scale; ``before``: filters before training too.
    ``fit``, ``invert``: how --image is read (cnnlab.data.photos). ``progress``: called with one
    line per step (the CLI prints them) and with the photo's background note."""
    say = progress or (lambda line: None)
    model = loaded.model
    plan = plan_layers(model, layer, kinds)
    if image is not None and index is not None:
        raise DataError("give either --image or --index, not both")
    if out_dir is None:
        if loaded.run_dir is None:
            raise RunError("no output folder: pass a run directory, or out_dir= when calling visualize_run")
        out_dir = runs.RunDir(loaded.run_dir).visualize_dir
    out_dir = Path(out_dir)
    needs_image = any(KINDS[k].needs_image for _, ks in plan for k in ks)
    chosen = None
    if needs_image or image is not None:  # check --image anyway
        say("reading the test images ..." if image is None else f"reading {Path(image).name} ...")
        chosen = choose_image(loaded, image, index, fit=fit, invert=invert, say=say)
    initial = InitialWeights(loaded, unsafe)
    written: list[Written] = []
    if not parse_kinds(kinds) and any(GRADCAM in default_kinds(r.layer) and not is_last_map_layer(model, r) for r, _ in plan):
        say(f"{GRADCAM_WHY} (here {last_map_layer(model).path})")
    for ref, ks in plan:
        folder = runs.inside(out_dir, ref.path)  # nested layers get nested folders: resnet50/conv1_conv/
        probe = probes.Probe(model, ref) if any(KINDS[k].needs_probe for k in ks) else None  # built once per layer
        ctx = DrawContext(ref, folder, loaded, max_maps, probe=probe, chosen=chosen, initial=initial,
                          options={"shared_scale": shared_scale, "before": before})  # fmt: skip
        for kind in ks:
            say(f"drawing {kind} of {ref.path} ...")
            drawn = KINDS[kind].draw(ctx)
            write_about(drawn, kind, ref, chosen if KINDS[kind].needs_image else None, shared_scale)
            written += drawn
    return written


ABOUT = runs.RunDir.ABOUT  # beside each picture: what made it, so the report captions it rightly


def write_about(written: list[Written], kind: str, ref: LayerRef, chosen: ChosenImage | None, shared: bool) -> None:
    """A small sidecar per picture: its kind, layer and image (a picture is redrawn for other
    images and options, and the report must not caption a shared-scale grid or a photo's
    Grad-CAM as if it were the default)."""
    for item in written:
        if item.path.suffix == ".png" and item.path.is_file():
            variant = f"{kind}-before" if item.path.stem.startswith(f"{kind}-before") else kind  # filters --before
            about = {"kind": variant, "layer": ref.path, "image": chosen.caption if chosen is not None else None,
                     "shared_scale": shared and kind == "feature-maps", "note": item.note}  # fmt: skip
            runs.write_json(item.path.with_name(item.path.stem + ABOUT), about)


def choose_image(loaded, image: str | Path | None, index: int | None, *, fit: str = "stretch", invert: str = "auto",
                 say: Callable[[str], None] | None = None) -> ChosenImage:  # fmt: skip
    """--image PATH (read, fitted and inverted as predict does) or --index N of the run's test split.
    ``say`` gets the photo's background note, when there is one."""
    h, w, c = model_image_shape(loaded.model)
    if image is not None:
        reference, problem = run_background(loaded) if invert != "yes" else (None, "")
        if problem and say is not None:
            say(problem)
        photo = read_photo(image, h, w, c, fit=fit, invert=invert, reference=reference)
        if photo.note and say is not None:
            say(photo.note)
        array = photo.pixels
        name = Path(image).name + (" (inverted)" if photo.inverted else "")
        tag = "photo-" + runs.safe_name(Path(image).stem)[:40]
        return ChosenImage(array, name, None, array[None], f"image {name}", tag)
    x_test, y_test = test_split(loaded)
    index = 0 if index is None else index
    if not 0 <= index < len(x_test):
        raise DataError(f"--index {index} is out of range: this run's test split has {len(x_test)} images (0..{len(x_test) - 1})")
    label = int(y_test[index])
    sample = x_test[:STATS_IMAGES]
    name = loaded.class_names[label] if 0 <= label < len(loaded.class_names) else str(label)
    tag = "" if index == 0 else f"test{index}"  # test #0 keeps the plain names (the report draws it)
    return ChosenImage(x_test[index], f"test #{index}: {name}", label, sample, f"the first {len(sample)} test images", tag)


def test_split(loaded) -> tuple[np.ndarray, np.ndarray]:
    """The run's own test images (a bare .keras file: Fashion-MNIST adapted to its input)."""
    return run_test_data(loaded, fix="pass --image PATH, or the run directory that trained this model")
