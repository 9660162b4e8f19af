"""filters: the layer's kernels, one colour scale centred at 0."""

from __future__ import annotations

from cnnlab import runs
from cnnlab.inspect.draw import plot_filters, shown_text
from cnnlab.inspect.kinds.base import DrawContext, Kind, Written
from cnnlab.inspect.layer_paths import conv_kernel, conv_kernel_shape


def draw(ctx: DrawContext) -> list[Written]:
    kernel = conv_kernel(ctx.ref.layer)  # (kh, kw, in, out)
    fig = plot_filters(kernel, ctx.ref.path, ctx.max_maps)
    n = kernel.shape[-1]
    note = shown_text(min(n, ctx.max_maps), n, "filters")
    return [Written(runs.save_figure(fig, ctx.folder / "filters.png"), note)]


KIND = Kind(
    "filters", "the layer's kernels, one colour scale centred at 0",
    applies=lambda layer: conv_kernel_shape(layer) is not None, requirement="convolution kernel", draw=draw,
)  # fmt: skip
