"""Look inside a trained model: a layer's activations, Grad-CAM heatmaps, the input
patterns that excite each filter, and per-channel statistics. Numbers only (numpy
out); ``cnnlab.inspect.draw`` draws them.

Layers inside a nested model (a backbone) are the hard case: ``Model(model.input,
inner.output)`` fails because ``inner.output`` belongs to the backbone's own graph
("Graph disconnected" / "not connected to inputs"). ``build_probe`` instead re-traces
the outer graph with ``keras.models.clone_model`` reusing the same layer objects
(same weights), and calls a probe built from the backbone's own graph where the
backbone was called, capturing the inner activation on the way.
"""

from __future__ import annotations

import numpy as np

from cnnlab.backend import keras, tf
from cnnlab.errors import ModelError
from cnnlab.inspect.layer_paths import LayerRef


class Probe:
    """image batch (N, H, W, C) raw pixels -> the layer's activation and class scores."""

    def __init__(self, model, ref: LayerRef):
        self.model, self.ref = model, ref
        self.head = model.layers[-1]
        # Grad-CAM wants pre-softmax scores: a saturated softmax has zero gradient.
        self.softmax_head = _is_softmax(self.head)
        outputs = _traced_outputs(model, list(ref.path.split("/")), capture_head_input=self.softmax_head)
        self.net = keras().Model(model.inputs, outputs, name=f"probe_{ref.name}")

    def __call__(self, images):
        """-> (activation (N, h, w, k), class scores (N, classes) as logits) tensors."""
        images = tf().convert_to_tensor(np.asarray(images, np.float32) if isinstance(images, np.ndarray) else images)
        activation, head_value = self.net([images] if len(self.model.inputs) == 1 else images, training=False)
        return activation, self._logits(head_value)

    def _logits(self, head_value):
        t = tf()
        if not self.softmax_head:
            return t.cast(head_value, "float32")
        h = t.cast(head_value, "float32")
        if getattr(self.head, "kernel", None) is None:  # Activation("softmax"): its input is the logits
            return h
        z = t.matmul(h, t.cast(self.head.kernel, "float32"))
        return z + t.cast(self.head.bias, "float32") if getattr(self.head, "use_bias", False) else z


def _is_softmax(layer) -> bool:
    activation = getattr(layer, "activation", None)
    return getattr(activation, "__name__", "") == "softmax" and (
        getattr(layer, "kernel", None) is not None or type(layer).__name__ == "Activation"
    )


def _traced_outputs(model, path: list[str], capture_head_input: bool):
    """Symbolic [activation of path, head input or model output] in ``model``'s graph."""
    k = keras()
    head = model.layers[-1]
    target = model.get_layer(path[0])
    if len(path) == 1 and not isinstance(target, k.Model):  # its tensors already live in model's graph
        return [_single_output(target), head.input if capture_head_input else model.output]
    # A nested model's .output belongs to its own graph, so re-trace the outer graph.
    # [inner activation, backbone output], built from the backbone's own graph (any depth):
    inner = k.Model(target.inputs, _traced_outputs(target, path[1:], capture_head_input=False)) if path[1:] else None
    captured = {}

    def call(layer, *args, **kwargs):
        if layer is target:
            activation, out = inner(*args, **kwargs) if inner else (layer(*args, **kwargs),) * 2
            captured["activation"] = activation
            return out
        if layer is head and capture_head_input:
            captured["head"] = args[0]
        return layer(*args, **kwargs)

    try:
        traced = k.models.clone_model(model, clone_function=lambda layer: layer, call_function=call)
    except ValueError as exc:  # e.g. a Sequential outer model
        raise ModelError(f"cannot trace into {'/'.join(path)} of model {model.name!r}: {exc}") from None
    if "activation" not in captured:
        raise ModelError(f"nested model {path[0]!r} is not called in model {model.name!r}'s graph")
    # clone_model made fresh Input tensors: rebuild on them, then re-key onto model.inputs.
    bridge = k.Model(traced.inputs, [captured["activation"], captured["head"] if capture_head_input else traced.output])
    return bridge(model.inputs if len(model.inputs) > 1 else model.inputs[0])


def _single_output(layer):
    try:
        return layer.output
    except (AttributeError, ValueError) as exc:
        raise ModelError(f"layer {layer.name!r} is used more than once in the model; its output is ambiguous ({exc})") from None


# ---------------------------------------------------------------- computations


def feature_maps(probe: Probe, images: np.ndarray, batch_size: int = 64) -> np.ndarray:
    """The layer's output for each image: (N, h, w, k) float32."""
    out = [np.asarray(probe(images[i : i + batch_size])[0], np.float32) for i in range(0, len(images), batch_size)]
    return np.concatenate(out)


def predict(probe: Probe, image: np.ndarray) -> np.ndarray:
    """Class probabilities for one image (H, W, C) -> (classes,)."""
    logits = np.asarray(probe(image[None])[1], np.float64)[0]
    e = np.exp(logits - logits.max())
    return e / e.sum()


def grad_cam(probe: Probe, image: np.ndarray, class_index: int) -> np.ndarray:
    """Grad-CAM (Selvaraju et al.) of ``class_index`` for one image (H, W, C) ->
    heatmap (H, W) in [0, 1] at input resolution (all zeros when nothing in the layer
    speaks for the class)."""
    t = tf()
    x = t.convert_to_tensor(image[None].astype(np.float32))
    with t.GradientTape() as tape:
        tape.watch(x)  # frozen (non-trainable) layers would otherwise leave the tape empty
        activation, logits = probe(x)  # (1, h, w, k), (1, classes)
        score = logits[:, class_index]
    # The gradient is taken at the layer's own tensor: under mixed precision it is bfloat16
    # or float16, and the score does not depend on a float32 cast made after it.
    grads = tape.gradient(score, activation)  # (1, h, w, k)
    if grads is None:
        raise ModelError(f"the class score does not depend on layer {probe.ref.path!r}; pick a layer before the head")
    grads, activation = t.cast(grads, "float32"), t.cast(activation, "float32")
    weights = t.reduce_mean(grads, axis=(1, 2), keepdims=True)  # (1, 1, 1, k): channel importance
    cam = t.nn.relu(t.reduce_sum(weights * activation, axis=-1, keepdims=True))  # (1, h, w, 1)
    cam = t.image.resize(cam, image.shape[:2], method="bilinear")[0, ..., 0].numpy()
    peak = float(cam.max())
    return np.clip(cam / peak, 0.0, 1.0) if peak > 0 else np.zeros_like(cam)


def filter_patterns(probe: Probe, channels: list[int], steps: int = 40, step_size: float = 3.0, seed: int = 0):
    """Gradient ascent in input space (Chollet): for each channel, start from a grey
    image with a little noise and move it, pixel values kept in 0..255, so that the
    channel's mean activation grows.

    -> (patterns (n, H, W, C) float32 in 0..255, mean activation before (n,), after (n,))
    """
    t = tf()
    shape = tuple(int(d) for d in probe.model.inputs[0].shape[1:])
    rng = np.random.default_rng(seed)
    x = t.Variable(128.0 + rng.uniform(-20, 20, (len(channels), *shape)).astype(np.float32))
    pick = t.one_hot(channels, int(probe.ref.layer.output.shape[-1]), dtype="float32")  # (n, k): image i -> channel i

    def objective():
        activation = t.cast(probe(x)[0], "float32")  # (n, h, w, k)
        return t.reduce_sum(t.reduce_mean(activation, axis=(1, 2)) * pick, axis=1)  # (n,)

    before = objective().numpy()
    for _ in range(steps):
        with t.GradientTape() as tape:
            value = t.reduce_sum(objective())  # images are independent: one backward pass for all
        g = tape.gradient(value, x)
        g = g / (t.sqrt(t.reduce_mean(t.square(g), axis=(1, 2, 3), keepdims=True)) + 1e-8)  # unit RMS per image
        x.assign(t.clip_by_value(x + step_size * g, 0.0, 255.0))
    return x.numpy(), before, objective().numpy()


def channel_stats(probe: Probe, images: np.ndarray, batch_size: int = 32) -> dict:
    """Per-channel mean activation, max and fraction of exact zeros over all images and
    positions; accumulated per batch, so big inputs never hold (N, h, w, k) at once."""
    total = zeros = peak = None
    count = 0
    for i in range(0, len(images), batch_size):
        maps = feature_maps(probe, images[i : i + batch_size])  # (n, h, w, k)
        flat = maps.reshape(-1, maps.shape[-1]).astype(np.float64)
        total = flat.sum(axis=0) + (0 if total is None else total)
        zeros = (flat == 0).sum(axis=0) + (0 if zeros is None else zeros)
        peak = flat.max(axis=0) if peak is None else np.maximum(peak, flat.max(axis=0))
        count += len(flat)
    zero_fraction = zeros / count
    return {
        "mean": total / count,
        "max": peak,
        "zero_fraction": zero_fraction,
        "dead": [int(c) for c in np.flatnonzero(zero_fraction == 1.0)],  # zero at every position of every image
    }
