"""patterns: the input each filter responds to most (gradient ascent)."""

from __future__ import annotations

from cnnlab import runs
from cnnlab.inspect import probes
from cnnlab.inspect.draw import plot_patterns
from cnnlab.inspect.kinds.base import MAPS, DrawContext, Kind, Written
from cnnlab.inspect.layer_paths import has_maps, output_shape


def draw(ctx: DrawContext) -> list[Written]:
    total = int(output_shape(ctx.ref.layer)[-1])
    channels = list(range(min(total, ctx.max_maps)))
    patterns, before, after = probes.filter_patterns(ctx.probe, channels)
    gains = after - before
    fig = plot_patterns(patterns, channels, total, ctx.ref.path, gains)
    note = f"mean activation rose for {int((gains > 0).sum())} of {len(channels)} filters"
    return [Written(runs.save_figure(fig, ctx.folder / "patterns.png"), note)]


KIND = Kind(
    "patterns", "the input each filter responds to most (gradient ascent)",
    applies=has_maps, requirement=MAPS, draw=draw, needs_probe=True,
)  # fmt: skip
