"""pairs: each filter beside the feature map it makes from the image."""

from __future__ import annotations

from cnnlab import runs
from cnnlab.inspect import probes
from cnnlab.inspect.draw import plot_filter_map_pairs, shown_text
from cnnlab.inspect.kinds.base import DrawContext, Kind, Written
from cnnlab.inspect.layer_paths import conv_kernel, conv_kernel_shape, has_maps

MAX_PAIRS = 8


def draw(ctx: DrawContext) -> list[Written]:
    kernel = conv_kernel(ctx.ref.layer)  # (kh, kw, in, out)
    maps = probes.feature_maps(ctx.probe, ctx.chosen.image[None])[0]  # (h, w, out)
    pairs = min(MAX_PAIRS, ctx.max_maps)
    fig = plot_filter_map_pairs(kernel, maps, ctx.chosen.image, ctx.ref.path, ctx.chosen.caption, pairs)
    n = kernel.shape[-1]
    return [Written(runs.save_figure(fig, ctx.folder / "pairs.png"), shown_text(min(n, pairs), n, "filters"))]


KIND = Kind(
    "pairs", "each filter beside the feature map it makes from the image",
    applies=lambda layer: conv_kernel_shape(layer) is not None and has_maps(layer),
    requirement="convolution kernel", draw=draw, needs_image=True, needs_probe=True, default=False,
)  # fmt: skip
