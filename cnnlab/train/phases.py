"""What each training phase trains, and the feature cache of feature-extraction mode.

``train()`` runs the phases of cnnlab.config.phases.plan_phases on one model, with one
history and one epoch count. The phase boundary is explicit: ``apply_phase`` sets every
trainable flag from the config alone (whatever state the model was in), and the caller
recompiles right after it, because Keras fixes the set of trained variables when it
compiles the train step. So a resume can re-enter any phase: apply, compile, fit with
initial_epoch = the epochs done (cnnlab.train.guard.TrainingGuard.start_phase).
"""

from __future__ import annotations

from dataclasses import replace

import numpy as np

from cnnlab.backend import keras
from cnnlab.config.phases import Phase, plan_phases
from cnnlab.model.backbones import base_layers, find_backbone


def apply_phase(phase: Phase, model, cfg) -> None:
    """Set the trainable flags ``phase`` trains with; recompile afterwards."""
    if cfg.model.backbone is None:
        return
    base = find_backbone(model)
    base.trainable = False  # feature extraction and fine-tune phase 1: the head alone
    if phase.name == "fine_tune":
        unfreeze_top(base, cfg.model.backbone)


def unfreeze_top(base, bc) -> list:
    """Unfreeze the top ``unfreeze`` layers of the base (or from ``unfreeze_from`` up),
    except BatchNormalization: its statistics were fitted on the pretraining data, and
    small fine-tuning batches would wreck them. Returns the unfrozen layers."""
    layers = base_layers(base)
    if bc.unfreeze is not None:
        start = len(layers) - bc.unfreeze
    else:
        start = [layer.name for layer in layers].index(bc.unfreeze_from)
    base.trainable = True  # a frozen container would hide its layers' own flags
    unfrozen = []
    for i, layer in enumerate(layers):
        layer.trainable = i >= start and not isinstance(layer, keras().layers.BatchNormalization)
        if layer.trainable:
            unfrozen.append(layer)
    return unfrozen


# ---------------------------------------------------------------- feature cache


def uses_feature_cache(cfg) -> bool:
    bc = cfg.model.backbone
    return bc is not None and bc.mode == "feature_extraction" and bc.cache_features


def cache_features(model, data, batch_size: int):
    """Run the frozen base once over train/val/test: (N, H, W, C) pixels -> (N, F) pooled
    features. Returns a head-only model that shares its layers, and so its weights, with
    ``model`` (training it trains the full model's head), and the data as features."""
    k = keras()
    pooled = model.get_layer("pooling")
    extractor = k.Model(model.input, pooled.output)  # built from model's own graph: no "Graph disconnected"
    width = tuple(pooled.output.shape[1:])

    def features(x):
        if len(x) == 0:
            return np.zeros((0, *width), np.float32)
        from cnnlab.data.pipeline import model_input

        return extractor.predict(model_input(x, batch_size), batch_size=None if hasattr(x, "paths") else batch_size, verbose=0)

    features_in = k.Input(shape=width, name="features")
    x = features_in
    for layer in model.layers[model.layers.index(pooled) + 1 :]:  # the head: a chain after pooling
        x = layer(x)
    head = k.Model(features_in, x, name=f"{model.name}_head")
    cached = replace(data, x_train=features(data.x_train), x_val=features(data.x_val), x_test=features(data.x_test))
    return head, cached


def describe_phases(model, cfg, phases: list[Phase] | None = None) -> str:
    """What each training phase trains, for ``cnnlab summary``: trainable weights, and
    for fine-tuning which base layers are unfrozen (BatchNorm stays frozen)."""
    phases = phases or plan_phases(cfg)
    if cfg.model.backbone is None:
        return ""
    lines = ["Phases (what each trains):"]
    for number, phase in enumerate(phases, 1):
        apply_phase(phase, model, cfg)
        lines.append(f"  {number}. {phase_text(phase, model)}")
    apply_phase(phases[0], model, cfg)  # leave the model as training starts
    return "\n".join(lines)


def phase_text(phase: Phase, model) -> str:
    """'head: 3 epochs at learning rate 0.001, 1,290 trainable weights: the head only, base
    frozen', for a model whose trainable flags ``phase.apply`` has just set."""
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    base = find_backbone(model)
    unfrozen = [layer.name for layer in base_layers(base) if base.trainable and layer.trainable and layer.weights]
    what = "the head only, base frozen" if not unfrozen else (
        f"the head + {len(unfrozen)} base layers with weights: {', '.join(unfrozen[:6])}"
        + (", ..." if len(unfrozen) > 6 else "") + " (BatchNorm stays frozen)"
    )  # fmt: skip
    epochs = f"{phase.epochs} epoch{'s' * (phase.epochs != 1)}"
    return (f"{phase.name}: {epochs} at learning rate {phase.optimizer.learning_rate:g}, "
            f"{trainable:,} trainable weights: {what}")  # fmt: skip
