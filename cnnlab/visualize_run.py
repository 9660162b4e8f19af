"""``cnnlab visualize``: pick the layers, the kinds and the image, compute with
``cnnlab.probes``, draw with ``cnnlab.visualize``, and write
RUN/plots/visualize/<layer>/<kind>.png (+ stats.json).

    from cnnlab.runs import load_run
    from cnnlab.visualize_run import visualize_run
    for written in visualize_run(load_run("outputs/fashion/20260101-120000"), "conv2d"):
        print(written.path)
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab import runs
from cnnlab.errors import DataError, ModelError, RunError
from cnnlab.layer_paths import (
    MAP_KINDS,
    LayerRef,
    applicable_kinds,
    check_kinds,
    find_layers,
    last_map_layer,
    output_shape,
    parse_kinds,
    shown_layers,
    walk,
)

IMAGE_KINDS = ("feature-maps", "stats", "gradcam")  # need the chosen image
STATS_IMAGES = 256  # stats over this many test images: one image says little about a dead filter
MAX_HISTOGRAM_PANELS = 6  # a whole backbone has hundreds of variables: pool them into one panel


@dataclass
class Written:
    path: Path
    note: str = ""


@dataclass
class ChosenImage:
    image: np.ndarray  # (H, W, C) uint8
    caption: str
    label: int | None  # true class when known
    sample: np.ndarray = field(repr=False)  # (N, H, W, C) images for stats
    sample_text: str = ""


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
    for ref in refs:
        if requested and len(refs) == 1:
            check_kinds(ref, requested)
        applicable = applicable_kinds(ref.layer)
        chosen = [k for k in (requested or applicable) if k in applicable]
        if chosen:
            plan.append((ref, chosen))
    if not plan:
        if len(refs) == 1:
            ref = refs[0]
            raise ModelError(
                f"layer {ref.path!r} ({ref.class_name}) outputs {_shape_text(output_shape(ref.layer))}, not a 4-D "
                f"feature map, and has no weights: nothing to draw; {shown_layers(walk(model))}"
            )
        raise ModelError(f"none of the layers {layer!r} means can draw {', '.join(requested)}")
    return plan


def visualize_run(loaded, layer: str | None = None, *, kinds=(), image: str | Path | None = None,
                  index: int | None = None, max_maps: int = 64, out_dir: Path | None = None,
                  unsafe: bool = False) -> list[Written]:  # fmt: skip
    """Draw the asked-for kinds for each layer; return the written files in order.
    ``unsafe`` as for load_run: the histogram reloads the run's model for its initial weights."""
    from cnnlab import probes

    model = loaded.model
    plan = plan_layers(model, layer, kinds)
    if image is not None and index is not None:
        raise DataError("give either --image or --index, not both")
    if out_dir is None:
        if loaded.run_dir is None:
            raise RunError("no output folder: pass a run directory, or out_dir= when calling visualize_run")
        out_dir = loaded.run_dir / "plots" / "visualize"
    out_dir = Path(out_dir)
    needs_image = any(k in IMAGE_KINDS for _, ks in plan for k in ks)
    chosen = choose_image(loaded, image, index) if needs_image or image is not None else None  # check --image anyway
    initial = _InitialWeights(loaded, unsafe)
    written: list[Written] = []
    for ref, ks in plan:
        folder = out_dir / ref.path  # nested layers get nested folders: resnet50/conv1_conv/
        probe = probes.Probe(model, ref) if any(k in MAP_KINDS for k in ks) else None  # built once per layer
        for kind in ks:
            written += DRAW[kind](ref, probe, chosen, folder, max_maps=max_maps, loaded=loaded, initial=initial)
    return written


# ---------------------------------------------------------------- the image


def choose_image(loaded, image: str | Path | None, index: int | None) -> ChosenImage:
    """--image PATH (converted as predict does) or --index N of the run's test split."""
    from cnnlab.images import load_image, model_image_shape

    h, w, c = model_image_shape(loaded.model)
    if image is not None:
        array = load_image(image, h, w, c)
        return ChosenImage(array, Path(image).name, None, array[None], f"image {Path(image).name}")
    x_test, y_test = test_split(loaded)
    index = 0 if index is None else index
    if not 0 <= index < len(x_test):
        raise DataError(f"--index {index} is out of range: this run's test split has {len(x_test)} images (0..{len(x_test) - 1})")
    label = int(y_test[index])
    sample = x_test[:STATS_IMAGES]
    return ChosenImage(x_test[index], f"test #{index}: {_class(loaded, label)}", label, sample,
                       f"the first {len(sample)} test images")  # fmt: skip


def test_split(loaded) -> tuple[np.ndarray, np.ndarray]:
    """The run's own test images (a bare .keras file: Fashion-MNIST adapted to its input)."""
    from cnnlab.evaluate import run_test_data

    return run_test_data(loaded, fix="pass --image PATH, or the run directory that trained this model")


def _class(loaded, i: int) -> str:
    return loaded.class_names[i] if 0 <= i < len(loaded.class_names) else str(i)


def _shape_text(shape) -> str:
    from cnnlab.summary import shape_text

    return shape_text(shape, "an unknown shape")


# ---------------------------------------------------------------- one function per kind


def draw_filters(ref, probe, chosen, folder, *, max_maps, **_):
    from cnnlab.layer_paths import conv_kernel
    from cnnlab.visualize import plot_filters, shown_text

    kernel = conv_kernel(ref.layer)  # (kh, kw, in, out)
    fig = plot_filters(kernel, ref.path, max_maps)
    n = kernel.shape[-1]
    return [Written(runs.save_figure(fig, folder / "filters.png"), shown_text(min(n, max_maps), n, "filters"))]


class _InitialWeights:
    """The run's weights before training (initial.weights.h5), loaded once, lazily."""

    def __init__(self, loaded, unsafe: bool = False):
        self.loaded, self.unsafe, self._model, self.note = loaded, unsafe, None, ""

    def layer(self, ref: LayerRef):
        run = self.loaded.run_dir
        if self._model is None and not self.note:
            file = run / "initial.weights.h5" if run is not None else None
            if file is None or not file.is_file():
                self.note = "initial weights not saved for this run: after training only"
            else:
                try:
                    self._model = runs.load_model(run / runs.MODEL_FILE, unsafe=self.unsafe)
                    self._model.load_weights(file)
                except Exception as exc:  # an inconsistent run: still draw the trained weights
                    self._model, self.note = None, f"initial weights unreadable ({type(exc).__name__}): after only"
        return find_layers(self._model, ref.path)[0].layer if self._model is not None else None


def _weight_arrays(layer) -> list[tuple[str, np.ndarray]]:
    arrays = [(_var_name(v), np.asarray(v.numpy() if hasattr(v, "numpy") else v)) for v in layer.weights]
    if len(arrays) > MAX_HISTOGRAM_PANELS:
        flat = np.concatenate([a.ravel() for _, a in arrays])
        return [(f"all {len(arrays)} weight variables", flat)]
    return arrays


def _var_name(v) -> str:
    return str(getattr(v, "name", "weights")).split("/")[-1].split(":")[0]


def draw_histogram(ref, probe, chosen, folder, *, initial, **_):
    from cnnlab.visualize import plot_weight_histograms

    after = _weight_arrays(ref.layer)
    start = initial.layer(ref)
    before = _weight_arrays(start) if start is not None else None
    fig = plot_weight_histograms(after, before, ref.path)
    return [Written(runs.save_figure(fig, folder / "histogram.png"), initial.note)]


def draw_feature_maps(ref, probe, chosen, folder, *, max_maps, **_):
    from cnnlab import probes
    from cnnlab.visualize import plot_feature_maps, shown_text

    maps = probes.feature_maps(probe, chosen.image[None])[0]  # (h, w, k)
    fig = plot_feature_maps(maps, chosen.image, ref.path, chosen.caption, max_maps)
    k = maps.shape[-1]
    return [Written(runs.save_figure(fig, folder / "feature-maps.png"), shown_text(min(k, max_maps), k, "channels"))]


def draw_stats(ref, probe, chosen, folder, **_):
    from cnnlab import probes
    from cnnlab.visualize import plot_channel_stats

    stats = probes.channel_stats(probe, chosen.sample)
    data = {
        "layer": ref.path,
        "class": ref.class_name,
        "output_shape": list(output_shape(ref.layer)[1:]),
        "images": int(len(chosen.sample)),
        "over": chosen.sample_text,
        "dead_channels": stats["dead"],
        "channels": [
            {"channel": c, "mean": round(float(m), 6), "max": round(float(x), 6), "zero_fraction": round(float(z), 6)}
            for c, (m, x, z) in enumerate(zip(stats["mean"], stats["max"], stats["zero_fraction"]))
        ],
    }
    runs.write_json(folder / "stats.json", data)
    fig = plot_channel_stats(stats["mean"], stats["zero_fraction"], ref.path, chosen.sample_text)
    note = f"{len(stats['dead'])} of {len(stats['mean'])} channels dead over {chosen.sample_text}"
    return [Written(runs.save_figure(fig, folder / "stats.png"), note), Written(folder / "stats.json")]


def draw_gradcam(ref, probe, chosen, folder, *, loaded, **_):
    from cnnlab import probes
    from cnnlab.visualize import plot_grad_cam

    probs = probes.predict(probe, chosen.image)
    pred = int(probs.argmax())
    pred_title = f"predicted: {_class(loaded, pred)} ({probs[pred]:.2f})"
    if chosen.label == pred:
        pred_title += "\n= the true class"
    heatmaps = [(pred_title, probes.grad_cam(probe, chosen.image, pred))]
    if chosen.label is not None and chosen.label != pred:
        label = chosen.label
        heatmaps.append((f"true: {_class(loaded, label)} ({probs[label]:.2f})", probes.grad_cam(probe, chosen.image, label)))
    fig = plot_grad_cam(chosen.image, heatmaps, ref.path, chosen.caption)
    return [Written(runs.save_figure(fig, folder / "gradcam.png"), pred_title.replace("\n", " "))]


def draw_patterns(ref, probe, chosen, folder, *, max_maps, **_):
    from cnnlab import probes
    from cnnlab.visualize import plot_patterns

    total = int(output_shape(ref.layer)[-1])
    channels = list(range(min(total, max_maps)))
    patterns, before, after = probes.filter_patterns(probe, channels)
    gains = after - before
    fig = plot_patterns(patterns, channels, total, ref.path, gains)
    note = f"mean activation rose for {int((gains > 0).sum())} of {len(channels)} filters"
    return [Written(runs.save_figure(fig, folder / "patterns.png"), note)]


DRAW = {
    "filters": draw_filters,
    "histogram": draw_histogram,
    "feature-maps": draw_feature_maps,
    "stats": draw_stats,
    "gradcam": draw_gradcam,
    "patterns": draw_patterns,
}
