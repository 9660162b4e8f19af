"""A float32 copy of a model trained in mixed precision: what every format exports.

Under mixed_bfloat16 (or mixed_float16) each layer but the output computes in 16 bits,
with casts in between. TFLite has no such kernels ("TensorFlow op Mul has no TFLite
equivalent"), ONNX Runtime refuses the graph's Mul of a float32 and a bfloat16 tensor,
and a learner's CPU without bfloat16 instructions would run a 16-bit SavedModel in
software. The variables are float32 under either policy, so the same layers in float32
with the same weights are the model to export (and to verify the artifact against).
"""

from __future__ import annotations

from cnnlab.backend import global_policy_restored, keras

MIXED = ("mixed_bfloat16", "mixed_float16")


def _policies(node):
    """Every serialized dtype policy's config inside a serialized model, nested models' too:
    {"class_name": "DTypePolicy", "config": {"name": "mixed_bfloat16"}, ...}."""
    if isinstance(node, dict):
        if str(node.get("class_name", "")).endswith("DTypePolicy") and isinstance(node.get("config"), dict):
            yield node["config"]
        for value in node.values():
            yield from _policies(value)
    elif isinstance(node, list):
        for value in node:
            yield from _policies(value)


def mixed_policy(model) -> str | None:
    """'mixed_bfloat16' or 'mixed_float16' when a layer of ``model`` computes in it; None
    when every layer computes in float32."""
    serialized = keras().saving.serialize_keras_object(model)
    return next((p["name"] for p in _policies(serialized) if p.get("name") in MIXED), None)


def float32_copy(model):
    """``model`` itself when it is all float32; else the same architecture with every mixed
    policy replaced by float32, holding ``model``'s weights."""
    k = keras()
    serialized = k.saving.serialize_keras_object(model)
    mixed = [p for p in _policies(serialized) if p.get("name") in MIXED]
    if not mixed:
        return model
    for policy in mixed:
        policy["name"] = "float32"
    with global_policy_restored():
        k.mixed_precision.set_global_policy("float32")  # any layer whose config has no dtype of its own
        # safe_mode off: the model is already loaded in this process (a Lambda layer passed
        # load_model's own check), and its config here is only re-read, never new code.
        copy = k.saving.deserialize_keras_object(serialized, safe_mode=False)
    copy.set_weights(model.get_weights())  # the same layers in the same order; random seeds are no weights
    return copy
