"""The config ``cnnlab finetune`` trains: a config file with the command's flags applied."""

from __future__ import annotations


from cnnlab.config import _shown, load_config
from cnnlab.errors import ConfigError
from cnnlab.config.backbones import REGISTRY, RUN_BACKBONE



def finetune_config(config, backbone: str, mode=None, weights=None, unfreeze=None, overrides=()):
    """The config ``cnnlab finetune`` trains: CONFIG with the flags applied (--set wins over
    flags). Returns (cfg, notes). When the input size comes from the file and is too small
    for the backbone (xception needs 71x71), the backbone's minimum is used and a note says so."""
    flags = [f"model.backbone.name={backbone}"]
    if mode:
        flags.append(f"model.backbone.mode={mode}")
    if mode == "feature_extraction":  # the file's fine-tune settings do not apply then
        flags += ["model.backbone.unfreeze=null", "model.backbone.unfreeze_from=null"]
    if weights:
        flags.append(f"model.backbone.weights={weights}")
    if unfreeze:
        flags += [f"model.backbone.unfreeze={unfreeze}", "model.backbone.unfreeze_from=null"]
        if not mode:
            flags.append("model.backbone.mode=fine_tune")
    notes = []
    explicit = any(item.partition("=")[0].strip().startswith("model.backbone.input_size") for item in overrides)
    if backbone == RUN_BACKBONE and not explicit:  # the run's convolutions take the run's own input size
        size = _file_input_size(config)
        flags.append("model.backbone.input_size=null")
        if size:
            notes.append(f"--backbone run: the base takes the run's own input size; the config's input_size "
                         f"{list(size)} is not used (images are resized to the run's size)")  # fmt: skip
    if backbone in REGISTRY and not explicit:
        try:
            from cnnlab.config.bounded_yaml import safe_load

            raw = safe_load(open(config, encoding="utf-8").read()) or {}
            size = ((raw.get("model") or {}).get("backbone") or {}).get("input_size")
            smallest = REGISTRY[backbone].min_size
            if size and min(int(s) for s in size) < smallest:
                flags.append(f"model.backbone.input_size=[{smallest}, {smallest}]")
                notes.append(f"{backbone} needs at least {smallest}x{smallest}: using input_size "
                             f"[{smallest}, {smallest}] instead of the config's {list(size)}")  # fmt: skip
        except Exception:  # unreadable or odd file: load_config reports it properly below
            pass
    try:
        return load_config(config, flags + list(overrides)), notes
    except ConfigError as exc:  # blame the flag the user typed, not the --set it became
        raise ConfigError(_blame_flag(str(exc), backbone, mode, weights, unfreeze)) from None


def _file_input_size(config):
    """model.backbone.input_size as CONFIG's file spells it, or None (unreadable: load_config says why)."""
    try:
        from cnnlab.config.bounded_yaml import safe_load

        raw = safe_load(open(config, encoding="utf-8").read()) or {}
        return ((raw.get("model") or {}).get("backbone") or {}).get("input_size")
    except Exception:  # noqa: BLE001
        return None


def _blame_flag(message: str, backbone, mode, weights, unfreeze) -> str:
    typed = {"name": ("--backbone", backbone), "mode": ("--mode", mode), "weights": ("--weights", weights),
             "unfreeze": ("--unfreeze", unfreeze)}  # fmt: skip
    for key, (option, value) in typed.items():
        prefix = f"--set {_shown(f'model.backbone.{key}={value}')}:"
        if value is not None and message.startswith(prefix):
            return f"{option} {_shown(str(value))}:" + message[len(prefix):]
    return message
