"""stats: per-channel mean activation and fraction of zeros over many images (+ stats.json)."""

from __future__ import annotations

from cnnlab import runs
from cnnlab.inspect import probes
from cnnlab.inspect.draw import plot_channel_stats
from cnnlab.inspect.kinds.base import MAPS, DrawContext, Kind, Written
from cnnlab.inspect.layer_paths import has_maps, output_shape


def draw(ctx: DrawContext) -> list[Written]:
    ref, chosen = ctx.ref, ctx.chosen
    stats = probes.channel_stats(ctx.probe, chosen.sample)
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
    runs.write_json(ctx.folder / "stats.json", data)
    fig = plot_channel_stats(stats["mean"], stats["zero_fraction"], ref.path, chosen.sample_text)
    note = f"{len(stats['dead'])} of {len(stats['mean'])} channels dead over {chosen.sample_text}"
    return [Written(runs.save_figure(fig, ctx.folder / "stats.png"), note), Written(ctx.folder / "stats.json")]


KIND = Kind(
    "stats", "per-channel mean activation and fraction of zeros (+ stats.json)",
    applies=has_maps, requirement=MAPS, draw=draw, needs_image=True, needs_probe=True,
)  # fmt: skip
