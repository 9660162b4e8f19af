"""histogram: the layer's weights before vs after training."""

from __future__ import annotations

import numpy as np

from cnnlab import runs
from cnnlab.inspect.draw import plot_weight_histograms
from cnnlab.inspect.kinds.base import DrawContext, Kind, Written
from cnnlab.inspect.layer_paths import LayerRef, find_layers

MAX_HISTOGRAM_PANELS = 6  # a whole backbone has hundreds of variables: pool them into one panel


class InitialWeights:
    """The run's weights before training (initial.weights.h5), loaded once, lazily."""

    def __init__(self, loaded, unsafe: bool = False):
        self.loaded, self.unsafe, self._model, self.note = loaded, unsafe, None, ""

    def layer(self, ref: LayerRef):
        run = self.loaded.run_dir
        if self._model is None and not self.note:
            file = runs.RunDir(run).initial_weights if run is not None else None
            if file is None or not file.is_file():
                self.note = "initial weights not saved for this run: after training only"
            else:
                try:
                    self._model = runs.load_model(runs.RunDir(run).model, unsafe=self.unsafe)
                    self._model.load_weights(file)
                except Exception as exc:  # an inconsistent run: still draw the trained weights
                    self._model, self.note = None, f"initial weights unreadable ({type(exc).__name__}): after only"
        return find_layers(self._model, ref.path)[0].layer if self._model is not None else None


def weight_arrays(layer) -> list[tuple[str, np.ndarray]]:
    arrays = [(_var_name(v), np.asarray(v.numpy() if hasattr(v, "numpy") else v)) for v in layer.weights]
    if len(arrays) > MAX_HISTOGRAM_PANELS:
        flat = np.concatenate([a.ravel() for _, a in arrays])
        return [(f"all {len(arrays)} weight variables", flat)]
    return arrays


def _var_name(v) -> str:
    return str(getattr(v, "name", "weights")).split("/")[-1].split(":")[0]


def draw(ctx: DrawContext) -> list[Written]:
    after = weight_arrays(ctx.ref.layer)
    start = ctx.initial.layer(ctx.ref)
    before = weight_arrays(start) if start is not None else None
    fig = plot_weight_histograms(after, before, ctx.ref.path)
    return [Written(runs.save_figure(fig, ctx.folder / "histogram.png"), ctx.initial.note)]


KIND = Kind(
    "histogram", "weights before vs after training",
    applies=lambda layer: bool(layer.weights), requirement="weights", draw=draw,
)  # fmt: skip
