"""Cross-field rules of a config, as small named checks.

Each check returns (dotted path, message) or None. Small and named, so the rule a
user broke is obvious from the code that reports it. ``CHECKS`` runs them in order.
"""

from __future__ import annotations

from pathlib import Path

from cnnlab.config.backbones import REGISTRY as BACKBONES
from cnnlab.config.backbones import RUN_BACKBONE
from cnnlab.config.schema import Config
from cnnlab.config.sources import SOURCES



def check_model_has_layers(cfg: Config):
    if not cfg.model.layers and cfg.model.backbone is None:
        return "model.layers", (
            "is empty; list the layers, e.g. - {type: Conv2D, filters: 32, kernel_size: 3}, "
            "or set model.backbone for a pretrained base"
        )


def check_path_for_file_sources(cfg: Config):
    if SOURCES[cfg.data.source].needs_path and not cfg.data.path:
        return "data.path", f"is required when data.source is {cfg.data.source!r}"


def check_monitor_needs_validation(cfg: Config):
    if cfg.train.monitor.startswith("val_") and cfg.data.validation_split == 0:
        return "train.monitor", (
            f"is {cfg.train.monitor!r} but data.validation_split is 0; "
            "set a validation split or monitor 'loss'"
        )


def check_label_smoothing_needs_categorical(cfg: Config):
    if cfg.train.label_smoothing and cfg.train.loss != "categorical_crossentropy":
        return "train.label_smoothing", "needs train.loss: categorical_crossentropy"


def check_mixing_needs_categorical(cfg: Config):
    for key in ("mixup_alpha", "cutmix_alpha"):
        if getattr(cfg.augment, key) and cfg.train.loss != "categorical_crossentropy":
            return f"augment.{key}", (
                "mixes labels into soft labels, so it needs train.loss: categorical_crossentropy "
                "(the data keeps int labels; cnnlab one-hot encodes them)"
            )


def check_backbone_or_layers(cfg: Config):
    if cfg.model.backbone is not None and cfg.model.layers:
        return "model.layers", "cannot be used with model.backbone; put the layers after the backbone in model.head"


def check_head_needs_backbone(cfg: Config):
    if cfg.model.head is not None and cfg.model.backbone is None:
        return "model.head", "needs model.backbone; a model without a backbone lists its layers in model.layers"


def check_backbone_input_size(cfg: Config):
    bc = cfg.model.backbone
    if bc is not None and bc.input_size and bc.name in BACKBONES:
        smallest = BACKBONES[bc.name].min_size
        if min(bc.input_size) < smallest:
            return "model.backbone.input_size", (
                f"{list(bc.input_size)} is smaller than {bc.name}'s minimum {smallest}x{smallest}; "
                f"use at least [{smallest}, {smallest}]"
            )


def check_backbone_weights_exist(cfg: Config):
    bc = cfg.model.backbone
    if bc is not None and bc.weights not in (None, "imagenet", "none") and not Path(bc.weights).expanduser().exists():
        return "model.backbone.weights", (
            f"{bc.weights!r} does not exist; use imagenet, none, a weights file, or a cnnlab run directory / .keras file"
        )
    if bc is not None and bc.name == RUN_BACKBONE and bc.weights in (None, "imagenet", "none"):
        return "model.backbone.weights", "name: run needs weights: a cnnlab run directory or .keras file to transfer from"


def check_unfreeze_is_one_choice(cfg: Config):
    bc = cfg.model.backbone
    if bc is not None and bc.unfreeze is not None and bc.unfreeze_from is not None:
        return "model.backbone.unfreeze_from", "and unfreeze are two ways to say the same thing; keep one"


def check_unfreeze_matches_mode(cfg: Config):
    bc = cfg.model.backbone
    if bc is None:
        return None
    asked = bc.unfreeze is not None or bc.unfreeze_from is not None
    if bc.mode == "feature_extraction" and asked:
        key = "unfreeze" if bc.unfreeze is not None else "unfreeze_from"
        return f"model.backbone.{key}", "only applies to mode: fine_tune (feature_extraction keeps the base frozen)"
    if bc.mode == "fine_tune" and not asked:
        return "model.backbone.mode", "fine_tune needs unfreeze: N (the top N base layers) or unfreeze_from: LAYER"


def check_cache_features_needs_frozen_base(cfg: Config):
    bc = cfg.model.backbone
    if bc is not None and bc.cache_features and bc.mode != "feature_extraction":
        return "model.backbone.cache_features", "only works with mode: feature_extraction (fine-tuning changes the base)"


def check_cache_features_without_augmentation(cfg: Config):
    bc = cfg.model.backbone
    if bc is None or not bc.cache_features:
        return None
    # How to augment (fill mode, interpolation) is not augmentation; any other non-default key is.
    active = set(cfg.augment.model_dump(exclude_defaults=True)) - {"fill_mode", "cval", "interpolation_order"}
    if active:
        return "model.backbone.cache_features", (
            f"cannot be used with augmentation (augment.{sorted(active)[0]}): cached features are computed once, "
            "so every epoch would see the same images; turn one of them off"
        )


def check_reduce_lr_needs_constant_rate(cfg: Config):
    if cfg.train.reduce_lr.enabled and cfg.train.optimizer.schedule != "constant":
        return "train.reduce_lr.enabled", (
            f"cannot change a learning rate that follows a schedule ({cfg.train.optimizer.schedule}); "
            "set train.optimizer.schedule: constant, or turn reduce_lr off"
        )


def check_devices_need_mirrored(cfg: Config):
    if cfg.train.devices and cfg.train.distribute != "mirrored":
        return "train.devices", f"only applies to train.distribute: mirrored (it is {cfg.train.distribute})"


def check_feature_cache_not_distributed(cfg: Config):
    bc = cfg.model.backbone
    if cfg.train.distribute != "none" and bc is not None and bc.mode == "feature_extraction" and bc.cache_features:
        return "model.backbone.cache_features", "is not supported with train.distribute; set it to false"


def check_one_step_per_call_when_distributed(cfg: Config):
    # Keras's multi-step loop fails under tf.distribute (why: cnnlab.train.compile); auto
    # runs one step per call there, and under distribute: auto whatever it resolves to.
    spe = cfg.train.steps_per_execution
    if cfg.train.distribute in ("mirrored", "multi_worker") and spe != "auto" and spe > 1:
        return "train.steps_per_execution", f"must be 1 (or auto) with train.distribute: {cfg.train.distribute}"


CHECKS = [
    check_mixing_needs_categorical,
    check_model_has_layers,
    check_path_for_file_sources,
    check_monitor_needs_validation,
    check_label_smoothing_needs_categorical,
    check_reduce_lr_needs_constant_rate,
    check_backbone_or_layers,
    check_head_needs_backbone,
    check_backbone_input_size,
    check_backbone_weights_exist,
    check_unfreeze_is_one_choice,
    check_unfreeze_matches_mode,
    check_cache_features_needs_frozen_base,
    check_cache_features_without_augmentation,
    check_devices_need_mirrored,
    check_feature_cache_not_distributed,
    check_one_step_per_call_when_distributed,
]
