"""feature-maps: every channel of the layer's output for the chosen image."""

from __future__ import annotations

from cnnlab import runs
from cnnlab.inspect import probes
from cnnlab.inspect.draw import plot_feature_maps, shown_text
from cnnlab.inspect.kinds.base import MAPS, DrawContext, Kind, Written
from cnnlab.inspect.layer_paths import has_maps


def draw(ctx: DrawContext) -> list[Written]:
    maps = probes.feature_maps(ctx.probe, ctx.chosen.image[None])[0]  # (h, w, k)
    fig = plot_feature_maps(maps, ctx.chosen.image, ctx.ref.path, ctx.chosen.caption, ctx.max_maps,
                            shared=bool(ctx.options.get("shared_scale")))  # fmt: skip
    k = maps.shape[-1]
    note = shown_text(min(k, ctx.max_maps), k, "channels")
    shared = "-shared" if ctx.options.get("shared_scale") else ""  # another picture, not a replacement
    return [Written(runs.save_figure(fig, ctx.image_file(f"feature-maps{shared}.png")), note)]


KIND = Kind(
    "feature-maps", "every channel of the layer's output for the image",
    applies=has_maps, requirement=MAPS, draw=draw, needs_image=True, needs_probe=True,
)  # fmt: skip
