"""gradcam: where the image speaks for the predicted (and the true) class."""

from __future__ import annotations

from cnnlab import runs
from cnnlab.inspect import probes
from cnnlab.inspect.draw import plot_grad_cam
from cnnlab.inspect.kinds.base import MAPS, DrawContext, Kind, Written
from cnnlab.inspect.layer_paths import has_maps


def draw(ctx: DrawContext) -> list[Written]:
    chosen = ctx.chosen
    probs = probes.predict(ctx.probe, chosen.image)
    pred = int(probs.argmax())
    pred_title = f"predicted: {ctx.class_name(pred)} ({probs[pred]:.2f})"
    if chosen.label == pred:
        pred_title += "\n= the true class"
    heatmaps = [(pred_title, probes.grad_cam(ctx.probe, chosen.image, pred))]
    if chosen.label is not None and chosen.label != pred:
        label = chosen.label
        heatmaps.append((f"true: {ctx.class_name(label)} ({probs[label]:.2f})", probes.grad_cam(ctx.probe, chosen.image, label)))
    fig = plot_grad_cam(chosen.image, heatmaps, ctx.ref.path, chosen.caption)
    return [Written(runs.save_figure(fig, ctx.image_file("gradcam.png")), pred_title.replace("\n", " "))]


KIND = Kind(
    "gradcam", "where the image speaks for the predicted (and true) class (by default at the last "
    "conv layer)",
    applies=has_maps, requirement=MAPS, draw=draw, needs_image=True, needs_probe=True,
)  # fmt: skip
