"""The training phases a config asks for: a pure function of the config, planned once
(cnnlab.train.loop) and read by the guard, the summary and the report.

    plain model                   [train]                   train.epochs
    backbone, feature_extraction  [feature_extraction]      train.epochs, base frozen
    backbone, fine_tune           [head, fine_tune]         train.epochs on the head alone, then
                                                            finetune.epochs with the top of the base
                                                            unfrozen at finetune.learning_rate

Phases are numbered from 1 in plan order; history.csv's ``phase`` column and
status.json's ``phase`` hold that number. What a phase trains (its trainable flags) is
set by cnnlab.train.phases.apply_phase.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Phase:
    name: str  # "train" | "feature_extraction" | "head" | "fine_tune"
    epochs: int
    optimizer: object  # cnnlab.config.OptimizerConfig for this phase


def plan_phases(cfg) -> list[Phase]:
    bc = cfg.model.backbone
    if bc is None:
        return [Phase("train", cfg.train.epochs, cfg.train.optimizer)]
    if bc.mode == "feature_extraction":
        return [Phase("feature_extraction", cfg.train.epochs, cfg.train.optimizer)]
    # Phase 2: same optimizer type, the low learning rate, no warm-up (the head is trained already).
    low = cfg.train.optimizer.model_copy(update={"learning_rate": cfg.finetune.learning_rate, "warmup_epochs": 0})
    return [Phase("head", cfg.train.epochs, cfg.train.optimizer), Phase("fine_tune", cfg.finetune.epochs, low)]
