"""Where a training step's time goes, layer by layer, in float32 and mixed bfloat16.

    python benchmarks/layer_profile.py                        # configs/fashion-best.yaml, ~2 min
    python benchmarks/layer_profile.py CONFIG --batch 256 --repeats 30 --bfloat16

Each layer of the config's model is rebuilt alone (same config, fresh weights) and its
training work timed as one compiled function: the forward pass in training mode and
the gradients with respect to its input and its weights, which is what the layer costs
inside model.fit's step. Median of --repeats after warm-ups, in float32 and, where the
CPU has bfloat16 instructions (or with --bfloat16), in mixed bfloat16.
The rows add up to about the whole step (the optimizer update and the loss are not in
them); the script also times the whole model's step for comparison.

Per layer: forward MFLOP per image (Conv2D, SeparableConv2D, Dense: 2 FLOPs per
multiply-add), the bytes its activations move (input and output, forward and backward,
at the compute dtype), the milliseconds per batch in each precision, and the share of
the float32 step. Element-wise layers (BatchNormalization, ReLU, Dropout) do a handful of
FLOPs per byte: if their time follows the bytes they move, memory bandwidth, not
arithmetic, bounds them, and a faster multiplier (bfloat16) does not help them.
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from collections import defaultdict
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
PRECISIONS = ("float32", "mixed_bfloat16")


def leaf_layers(model):
    """The model's layers in order, nested blocks (the augmentation block) opened up."""
    for layer in model.layers[1:]:  # [0] is the Input
        if hasattr(layer, "layers"):
            yield from layer.layers
        else:
            yield layer


def forward_flops(layer, in_shape, out_shape) -> int:
    """Per image. Conv2D 2*kh*kw*cin*cout*oh*ow; depthwise-separable: depthwise + pointwise; Dense 2*in*out."""
    name = type(layer).__name__
    if name == "Conv2D":
        kh, kw = layer.kernel_size
        return 2 * kh * kw * in_shape[-1] * out_shape[-1] * out_shape[1] * out_shape[2]
    if name == "SeparableConv2D":
        kh, kw = layer.kernel_size
        hw = out_shape[1] * out_shape[2]
        return 2 * hw * in_shape[-1] * (kh * kw * layer.depth_multiplier + out_shape[-1] * layer.depth_multiplier)
    if name == "Dense":
        return 2 * in_shape[-1] * out_shape[-1]
    return 0


def model_forward_flops(model) -> int:
    """Forward FLOPs per image of the whole model: the sum of forward_flops over its layers."""
    return sum(forward_flops(la, tuple(la.input.shape), tuple(la.output.shape)) for la in leaf_layers(model))


def time_layer(tf, layer, in_shape, batch: int, repeats: int) -> float:
    """Median seconds of forward (training mode) + gradients w.r.t. input and weights."""
    from fit_speed import median_seconds

    fresh = type(layer).from_config(layer.get_config())
    fresh.build((batch, *in_shape[1:]))
    dtype = "uint8" if _takes_pixels(fresh) else fresh.compute_dtype
    x = tf.cast(tf.random.uniform((batch, *in_shape[1:]), 0, 255), dtype)
    weights = fresh.trainable_weights

    @tf.function
    def step(x):
        with tf.GradientTape() as tape:
            tape.watch(x) if x.dtype.is_floating else None
            y = fresh(x, training=True)
            loss = tf.reduce_sum(tf.cast(y, "float32"))
        sources = ([x] if x.dtype.is_floating else []) + list(weights)
        return tape.gradient(loss, sources) if sources else loss

    return median_seconds(lambda: tf.nest.map_structure(lambda t: None if t is None else t.numpy(), step(x)), repeats)


def _takes_pixels(layer) -> bool:
    """Augmentation layers and Rescaling see raw uint8 pixels, as in the model."""
    return layer.name == "rescaling" or type(layer).__module__.startswith(("cnnlab.layers", "keras.src.layers.preprocessing"))


def whole_step(keras, cfg, batch: int, steps: int) -> float:
    """Median seconds of one model.fit step (fit_speed.py: epochs of `steps` batches)."""
    from fit_speed import config_images_per_second

    return batch / config_images_per_second(keras, cfg, batch, steps)[0]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("config", nargs="?", default=str(REPO / "configs" / "fashion-best.yaml"))
    parser.add_argument("--batch", type=int, default=None, help="default: the config's data.batch_size")
    parser.add_argument("--repeats", type=int, default=20)
    parser.add_argument("--bfloat16", action="store_true", help="also on a CPU without bfloat16 instructions")
    parser.add_argument("--print-only", action="store_true", help="do not write benchmarks/RESULTS.md")
    args = parser.parse_args()
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

    import numpy as np

    from cnnlab.backend import cpu_has_bfloat16
    from cnnlab.backend import keras as get_keras
    from cnnlab.backend import tf as get_tf
    from cnnlab.config import load_config
    from cnnlab.model import build_model

    keras, tf = get_keras(), get_tf()
    precisions = PRECISIONS if args.bfloat16 or cpu_has_bfloat16() is not False else PRECISIONS[:1]
    cfg = load_config(args.config, ["train.jit_compile=false"])
    batch = args.batch or cfg.data.batch_size
    rows = []  # (name, type, out shape, MFLOP, MB moved, {precision: seconds})
    step = {}
    for precision in precisions:
        keras.mixed_precision.set_global_policy(precision)
        model = build_model(cfg, (28, 28, 1), 10)
        for i, layer in enumerate(leaf_layers(model)):
            in_shape, out_shape = tuple(layer.input.shape), tuple(layer.output.shape)
            seconds = time_layer(tf, layer, in_shape, batch, args.repeats)
            if precision == precisions[0]:
                itemsize = 4
                moved = 2 * itemsize * (np.prod(in_shape[1:]) + np.prod(out_shape[1:])) * batch / 1e6
                rows.append([layer.name, type(layer).__name__, out_shape[1:], forward_flops(layer, in_shape, out_shape) / 1e6, moved, {}])
            rows[i][5][precision] = seconds
        step[precision] = whole_step(keras, cfg, batch, max(args.repeats, 40))  # epochs long enough to hide fit's own overhead
        keras.backend.clear_session()
    keras.mixed_precision.set_global_policy("float32")

    total = {p: sum(r[5][p] for r in rows) for p in precisions}
    lines = report_lines(args, batch, rows, by_type_of(rows, precisions), total, step, precisions)
    text = "\n".join(lines)
    print(text)
    if not args.print_only:
        from results import write_section

        write_section("layer_profile", text)


def by_type_of(rows, precisions) -> dict:
    by_type = defaultdict(lambda: dict.fromkeys(precisions, 0.0))
    for _, kind, _, _, _, sec in rows:
        for p in precisions:
            by_type[kind][p] += sec[p]
    return by_type


def report_lines(args, batch, rows, by_type, total, step, precisions) -> list[str]:
    from results import machine

    both = len(precisions) == 2

    def ms(sec: dict) -> str:
        f32 = sec["float32"]
        if not both:
            return f"{1e3 * f32:.2f} | {100 * f32 / total['float32']:.0f} %"
        bf16 = sec["mixed_bfloat16"]
        return f"{1e3 * f32:.2f} | {1e3 * bf16:.2f} | {f32 / bf16:.2f}x | {100 * f32 / total['float32']:.0f} %"

    head = "float32 ms | bfloat16 ms | bfloat16 speed-up | share of float32" if both else "float32 ms | share"
    cols = "---:|---:|---:|---:" if both else "---:|---:"
    command = " ".join(["python benchmarks/layer_profile.py", *sys.argv[1:]])
    lines = [
        "## Where a training step's time goes, layer by layer",
        "",
        f"Generated by `{command}` on {time.strftime('%Y-%m-%d %H:%M')}. Machine: {machine()}; "
        f"TensorFlow oneDNN {'off' if os.environ.get('TF_ENABLE_ONEDNN_OPTS') == '0' else 'on'}.",
        "",
        f"{Path(args.config).name}, batch {batch}: each layer alone, forward in training mode + gradients "
        f"w.r.t. its input and weights, median of {args.repeats}, ms per batch. "
        "\"MB moved\": float32 activations read and written, forward and backward."
        + ("" if both else " No bfloat16 columns: this CPU has no bfloat16 instructions (--bfloat16 measures "
           "TensorFlow's software bfloat16 anyway)."),  # fmt: skip
        "",
        f"| layer | type | output | forward MFLOP/image | MB moved | {head} |",
        f"|---|---|---|---:|---:|{cols}|",
    ]
    for name, kind, shape, mflop, mb, sec in rows:
        lines.append(f"| {name} | {kind} | {'x'.join(map(str, shape))} | {mflop:.1f} | {mb:.1f} | {ms(sec)} |")
    lines += ["", f"| by type | {head} |", f"|---|{cols}|"]
    for kind, sec in sorted(by_type.items(), key=lambda kv: -kv[1]["float32"]):
        lines.append(f"| {kind} | {ms(sec)} |")
    lines.append(f"| **sum of layers** | {ms(total)} |")
    lines.append(f"| **whole model.fit step** | {ms(step)} |")
    lines += ["", "Train images/s from the whole step: " + ", ".join(
        f"{p} {batch / step[p]:,.0f}" for p in precisions) + "."]  # fmt: skip
    return lines


if __name__ == "__main__":
    main()
