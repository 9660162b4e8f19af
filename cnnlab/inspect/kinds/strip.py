"""strip: one image through every conv and pooling layer up to this one, maps drawn
at their true relative sizes (28 -> 14 -> 7), in one figure."""

from __future__ import annotations

import numpy as np

from cnnlab import runs
from cnnlab.backend import keras
from cnnlab.errors import ModelError
from cnnlab.inspect.draw import plot_strip
from cnnlab.inspect.kinds.base import MAPS, DrawContext, Kind, Written
from cnnlab.inspect.layer_paths import has_maps, is_conv_or_pool


def draw(ctx: DrawContext) -> list[Written]:
    model, ref = ctx.loaded.model, ctx.ref
    if ref.containers:
        raise ModelError(f"--kind strip follows the outer model's layers; {ref.path!r} is inside "
                         f"{ref.path.split('/')[0]!r}: pick a top-level layer")  # fmt: skip
    chain = [layer for layer in model.layers[: model.layers.index(ref.layer) + 1] if is_conv_or_pool(layer)]
    if ref.layer not in chain:
        chain.append(ref.layer)
    probe = keras().Model(model.inputs, [layer.output for layer in chain])  # the model's own graph
    outputs = probe(np.asarray(ctx.chosen.image[None], np.float32), training=False)
    outputs = outputs if isinstance(outputs, (list, tuple)) else [outputs]
    # float32: a mixed-precision model's maps are bfloat16/float16, which numpy's max refuses
    stages = [(layer.name, np.asarray(keras().ops.convert_to_numpy(out), np.float32)[0])
              for layer, out in zip(chain, outputs)]  # fmt: skip
    fig = plot_strip(ctx.chosen.image, stages, ctx.chosen.caption)
    sizes = " -> ".join(str(maps.shape[0]) for _, maps in stages)
    return [Written(runs.save_figure(fig, ctx.folder / "strip.png"), f"{ctx.chosen.image.shape[0]} -> {sizes}")]


KIND = Kind(
    "strip", "one image through every conv/pooling layer up to this one, at true relative sizes",
    applies=has_maps, requirement=MAPS, draw=draw, needs_image=True, default=False,
)  # fmt: skip
