"""filters: the layer's kernels, one colour scale centred at 0."""

from __future__ import annotations

from cnnlab import runs
from cnnlab.inspect.draw import plot_filters, shown_text
from cnnlab.inspect.kinds.base import DrawContext, Kind, Written
from cnnlab.inspect.layer_paths import conv_kernel, conv_kernel_shape


def draw(ctx: DrawContext) -> list[Written]:
    written = [_draw(ctx, ctx.ref.layer, "filters.png", ctx.ref.path)]
    if ctx.options.get("before"):  # --before: the same filters as initialised, before any training
        start = ctx.initial.layer(ctx.ref)
        if start is None:
            written.append(Written(ctx.folder / "filters-before.png", ctx.initial.note + " (not drawn)"))
        else:
            written.append(_draw(ctx, start, "filters-before.png", f"{ctx.ref.path} before training"))
    return written


def _draw(ctx: DrawContext, layer, file: str, title: str) -> Written:
    kernel = conv_kernel(layer)  # (kh, kw, in, out)
    fig = plot_filters(kernel, title, ctx.max_maps)
    n = kernel.shape[-1]
    return Written(runs.save_figure(fig, ctx.folder / file), shown_text(min(n, ctx.max_maps), n, "filters"))


KIND = Kind(
    "filters", "the layer's kernels, one colour scale centred at 0",
    applies=lambda layer: conv_kernel_shape(layer) is not None, requirement="convolution kernel", draw=draw,
)  # fmt: skip
