"""The experiment config: a typed schema (defaults live here and only here),
YAML loading, ``--set`` overrides, and error messages that name the dotted path.

``load_config(path, overrides)`` is the one entry point; anything that goes wrong
inside it surfaces as a ``ConfigError`` and nothing else.
"""

from __future__ import annotations

import difflib
import re
import types
import typing
from pathlib import Path
from typing import Any, ClassVar, Literal, Union

import yaml
from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator
from pydantic_core import PydanticCustomError

from cnnlab.backbones import REGISTRY as BACKBONES
from cnnlab.backbones import RUN_BACKBONE
from cnnlab.errors import ConfigError


class Section(BaseModel):
    # Unknown keys are errors (typos must not be silently ignored).
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Section):
    source: Literal["fashion_mnist", "mnist", "npz", "directory"] = "fashion_mnist"
    path: str | None = Field(None, description="file or folder; for IDX sources a folder to look in first")
    validation_split: float = Field(0.2, ge=0.0, le=0.9)
    limit: int | None = Field(None, ge=1, description="use at most N training and N test images")
    image_size: tuple[int, int] | None = Field(None, description="resize to [height, width]")
    color_mode: Literal["grayscale", "rgb"] | None = None
    batch_size: int = Field(32, ge=1, le=65536)
    class_names: list[str] | None = None


class OptimizerConfig(Section):
    name: Literal["adam", "adamw", "sgd", "rmsprop", "nadam"] = "adam"
    learning_rate: float = Field(0.001, gt=0.0, le=10.0)
    momentum: float = Field(0.0, ge=0.0, lt=1.0, description="sgd and rmsprop only")
    weight_decay: float | None = Field(None, ge=0.0)
    schedule: Literal["constant", "cosine"] = "constant"
    warmup_epochs: int = Field(0, ge=0)


class EarlyStoppingConfig(Section):
    enabled: bool = True
    patience: int = Field(2, ge=0)
    min_delta: float = Field(0.0, ge=0.0)


class TrainConfig(Section):
    epochs: int = Field(20, ge=1, le=10000)
    optimizer: OptimizerConfig = OptimizerConfig()
    loss: Literal["sparse_categorical_crossentropy", "categorical_crossentropy"] = (
        "sparse_categorical_crossentropy"
    )
    label_smoothing: float = Field(0.0, ge=0.0, lt=1.0, description="categorical_crossentropy only")
    metrics: list[Literal["accuracy"]] = ["accuracy"]
    monitor: Literal["val_loss", "val_accuracy", "loss", "accuracy"] = "val_loss"
    early_stopping: EarlyStoppingConfig = EarlyStoppingConfig()
    tensorboard: bool = True
    steps_per_execution: int = Field(1, ge=1)
    # "auto" = on where it helps (GPU), off on CPU, where XLA made epochs about 2.5x slower.
    jit_compile: Literal["auto"] | bool = "auto"
    # auto: mixed_float16 with a GPU, float32 on CPU. true: mixed_float16 on GPU, mixed_bfloat16
    # on CPU (about 2x faster where the CPU has bfloat16 instructions, e.g. AVX512_BF16/AMX).
    mixed_precision: Literal["auto", "mixed_float16", "mixed_bfloat16"] | bool = "auto"
    verbose: Literal["auto", 0, 1, 2] = "auto"
    # tf.distribute (cnnlab.distribute): none | mirrored (one process, local GPUs or `devices`)
    # | multi_worker (one process per machine, TF_CONFIG) | auto. data.batch_size is the global batch.
    distribute: Literal["none", "mirrored", "multi_worker", "auto"] = "none"
    devices: list[str] | None = Field(None, description="mirrored only: e.g. [GPU:0, GPU:1]; default all GPUs")


class AugmentConfig(Section):
    """Training-time augmentation in ImageDataGenerator's vocabulary and units; the
    defaults mean none. cnnlab.augment documents the mapping to Keras layers."""

    rotation_range: float = Field(0.0, ge=0.0, le=180.0, description="degrees: rotate by U(-r, r)")
    width_shift_range: float = Field(0.0, ge=0.0, description="fraction of the width: shift by U(-f, f)·W")
    height_shift_range: float = Field(0.0, ge=0.0, description="fraction of the height")
    shear_range: float = Field(0.0, ge=0.0, lt=90.0, description="degrees: shear angle U(-s, s)")
    zoom_range: float | tuple[float, float] = Field(0.0, description="z -> [1-z, 1+z], or [lower, upper]; >1 zooms out")
    channel_shift_range: float = Field(0.0, ge=0.0, le=255.0, description="pixel values: add U(-c, c)")
    horizontal_flip: bool = False
    vertical_flip: bool = False
    brightness_range: tuple[float, float] | None = Field(None, description="[lower, upper]: multiply pixels by U(l, u)")
    fill_mode: Literal["nearest", "reflect", "wrap", "constant"] = "nearest"
    cval: float = Field(0.0, ge=0.0, le=255.0, description="pixel value outside the image for fill_mode constant")
    interpolation_order: int = Field(1, ge=0, le=1, description="0 nearest, 1 bilinear (splines have no layer)")
    # Beyond ImageDataGenerator:
    contrast: float = Field(0.0, ge=0.0, le=1.0, description="scale contrast by U(1-c, 1+c)")
    random_erasing: float = Field(0.0, ge=0.0, le=1.0, description="probability of erasing a random patch")
    mixup_alpha: float = Field(0.0, ge=0.0, le=10.0, description="Beta(a, a) label mixing; needs categorical loss")
    cutmix_alpha: float = Field(0.0, ge=0.0, le=1.0, description="Beta(a, a) patch mixing; needs categorical loss")

    # ImageDataGenerator arguments with no faithful layer: why, and what to do instead.
    REFUSED_KEYS: ClassVar[dict[str, str]] = {
        "featurewise_center": "needs the training set's mean (ImageDataGenerator.fit), which is preprocessing, "
        "not augmentation; add {type: Normalization, mean: M, variance: V} as the first model.layers item "
        "(pixels there are already in [0, 1])",
        "featurewise_std_normalization": "needs the training set's std (ImageDataGenerator.fit), which is "
        "preprocessing, not augmentation; add {type: Normalization, mean: M, variance: V} as the first model.layers item",
        "samplewise_center": "is per-image preprocessing that must also run at inference, not augmentation; "
        "remove it (the model already rescales pixels to [0, 1]; a BatchNormalization layer can centre features)",
        "samplewise_std_normalization": "is per-image preprocessing that must also run at inference, not augmentation; "
        "remove it (the model already rescales pixels to [0, 1]; a BatchNormalization layer can normalise features)",
        "zca_whitening": "needs a whitening matrix fitted on the whole training set and has no Keras layer; "
        "remove it (it rarely helps CNNs; BatchNormalization is the usual substitute)",
        "zca_epsilon": "belongs to zca_whitening, which has no Keras layer; remove it",
        "rescale": "is built in: the model rescales pixels by 1/255 right after augmentation; remove it",
        "preprocessing_function": "would be arbitrary Python code, which a safe .keras model cannot hold; "
        "remove it, or add a layer to model.layers",
        "validation_split": "belongs to the data section; use data.validation_split",
        "data_format": "is always channels_last in cnnlab; remove it",
        "dtype": "is not needed (augmentation runs in float32 on raw pixels 0..255); remove it",
    }

    @field_validator("width_shift_range", "height_shift_range")
    @classmethod
    def _shift_is_fraction(cls, value: float) -> float:
        if value >= 1:
            raise PydanticCustomError(
                "shift_fraction",
                "is a fraction of the image size and must be below 1 (ImageDataGenerator's pixel counts >= 1 "
                "are not accepted: divide the pixels by the image size)",
            )
        return value

    ZOOM_RULE: ClassVar[str] = (
        "must be a float z in [0, 1), meaning [1 - z, 1 + z], or [lower, upper] with "
        "0 < lower <= upper <= 2 (as in ImageDataGenerator, values above 1 zoom out)"
    )

    @field_validator("zoom_range", mode="before")
    @classmethod
    def _zoom_is_number_or_pair(cls, value):
        # One message for every wrong shape, instead of one per member of the union.
        def number(v):
            return isinstance(v, (int, float)) and not isinstance(v, bool)

        if not (number(value) or (isinstance(value, (list, tuple)) and len(value) == 2 and all(map(number, value)))):
            raise PydanticCustomError("zoom_range", cls.ZOOM_RULE)
        return value

    @field_validator("zoom_range")
    @classmethod
    def _zoom_in_layer_range(cls, value):
        ok = (0.0 <= value < 1.0) if isinstance(value, float) else (0.0 < value[0] <= value[1] <= 2.0)
        if not ok:
            raise PydanticCustomError("zoom_range", cls.ZOOM_RULE)
        return value

    @field_validator("brightness_range")
    @classmethod
    def _brightness_pair(cls, value):
        if value is not None and not 0.0 <= value[0] <= value[1]:
            raise PydanticCustomError(
                "brightness_range", "must be [lower, upper] multipliers with 0 <= lower <= upper, e.g. [0.8, 1.2]"
            )
        return value

    @property
    def mixes_labels(self) -> bool:
        return bool(self.mixup_alpha or self.cutmix_alpha)


class BackboneConfig(Section):
    """A pretrained convolutional base (cnnlab.backbones) under model.head."""

    name: Literal[(*BACKBONES, RUN_BACKBONE)] = Field(  # type: ignore[valid-type]
        description="registry name (cnnlab backbones), or run: the conv layers of the cnnlab run in weights"
    )
    weights: str | None = Field("imagenet", description="imagenet | none | a weights file | a cnnlab run dir or .keras")
    mode: Literal["feature_extraction", "fine_tune"] = "feature_extraction"
    input_size: tuple[int, int] | None = Field(None, description="[height, width] the base sees; default: its default")
    pooling: Literal["avg", "max", "flatten"] = "avg"
    unfreeze: int | None = Field(None, ge=1, description="fine_tune: the top N base layers (BatchNorm stays frozen)")
    unfreeze_from: str | None = Field(None, description="fine_tune: unfreeze from this base layer to the top")
    cache_features: bool = Field(False, description="feature_extraction: run the base once, train the head on features")


class FinetuneConfig(Section):
    """Phase 2 of model.backbone.mode fine_tune: after train.epochs of head-only training."""

    epochs: int = Field(10, ge=1, le=10000)
    learning_rate: float = Field(1e-5, gt=0.0, le=1.0, description="low, so the pretrained weights move little")


class ModelConfig(Section):
    # Each item: {type: <keras.layers class>, <its arguments>...}; checked in cnnlab.layer_specs.
    layers: list[dict[str, Any]] | None = None
    backbone: BackboneConfig | None = None
    head: list[dict[str, Any]] | None = Field(None, description="layers after the backbone; default: Dense softmax")


class Config(Section):
    name: str = Field("experiment", pattern=r"^[A-Za-z0-9][A-Za-z0-9_.-]*$")
    seed: int = Field(42, ge=0, le=2**31 - 1)
    data: DataConfig = DataConfig()
    model: ModelConfig = ModelConfig()
    train: TrainConfig = TrainConfig()
    augment: AugmentConfig = AugmentConfig()
    finetune: FinetuneConfig = FinetuneConfig()


# ---------------------------------------------------------------- cross-field checks
# Each check returns (dotted path, message) or None. Small and named, so the rule
# a user broke is obvious from the code that reports it.


def check_model_has_layers(cfg: Config):
    if not cfg.model.layers and cfg.model.backbone is None:
        return "model.layers", (
            "is empty; list the layers, e.g. - {type: Conv2D, filters: 32, kernel_size: 3}, "
            "or set model.backbone for a pretrained base"
        )


def check_path_for_file_sources(cfg: Config):
    if cfg.data.source in ("npz", "directory") and not cfg.data.path:
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


def check_devices_need_mirrored(cfg: Config):
    if cfg.train.devices and cfg.train.distribute != "mirrored":
        return "train.devices", f"only applies to train.distribute: mirrored (it is {cfg.train.distribute})"


def check_feature_cache_not_distributed(cfg: Config):
    bc = cfg.model.backbone
    if cfg.train.distribute != "none" and bc is not None and bc.mode == "feature_extraction" and bc.cache_features:
        return "model.backbone.cache_features", "is not supported with train.distribute; set it to false"


CHECKS = [
    check_mixing_needs_categorical,
    check_model_has_layers,
    check_path_for_file_sources,
    check_monitor_needs_validation,
    check_label_smoothing_needs_categorical,
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
]


# ---------------------------------------------------------------- loading


def load_config(path: str | Path, overrides: list[str] | tuple[str, ...] = ()) -> Config:
    """Read a YAML config, apply ``key.path=value`` overrides, validate everything."""
    path = Path(path)
    try:
        return _load(path, overrides)
    except ConfigError:
        raise
    except Exception as exc:  # the loader's contract: only ConfigError escapes
        raise ConfigError(f"{path}: config: cannot be read ({type(exc).__name__}: {exc})") from exc


def _load(path: Path, overrides) -> Config:
    if not path.is_file():
        raise ConfigError(f"config file {str(path)!r} does not exist; pass a YAML file such as configs/fashion.yaml")
    try:
        raw = yaml.safe_load(path.read_text(encoding="utf-8"))
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark else ""
        problem = getattr(exc, "problem", None) or str(exc).splitlines()[0]
        raise ConfigError(f"{path}: config: malformed YAML{where}: {problem}; fix the syntax") from None
    except UnicodeDecodeError:
        raise ConfigError(f"{path}: config: is not UTF-8 text; save the file as UTF-8 YAML") from None
    return config_from_dict(raw, overrides, source=str(path))


def config_from_dict(raw: Any, overrides=(), source: str = "config") -> Config:
    if raw is None:
        raw = {}
    if not isinstance(raw, dict):
        raise ConfigError(
            f"{source}: config: expected a mapping of sections ({', '.join(Config.model_fields)}), "
            f"got {_type_name(raw)}"
        )
    for item in overrides:
        apply_override(raw, item, source)
    try:
        cfg = Config.model_validate(raw)
    except ValidationError as exc:
        path, problem = format_validation_error(exc)
        raise ConfigError(f"{_blame(path, overrides, source)}: {path}: {problem}") from None
    for check in CHECKS:
        problem = check(cfg)
        if problem:
            raise ConfigError(f"{_blame(problem[0], overrides, source)}: {problem[0]}: {problem[1]}")
    from cnnlab.layer_specs import check_layer_specs  # imports keras: only when a config is loaded

    check_layer_specs(cfg.model.layers, "model.layers", lambda where: _blame(where, overrides, source))
    check_layer_specs(cfg.model.head, "model.head", lambda where: _blame(where, overrides, source))
    return cfg


def _blame(path: str, overrides, source: str) -> str:
    """Name the --set option that introduced the problem, else the file."""
    dotted = re.sub(r"\[(\d+)\]", r".\1", path)
    for item in reversed(list(overrides)):
        key = item.partition("=")[0].strip()
        if dotted == key or dotted.startswith(key + ".") or key.startswith(dotted + "."):
            return f"--set {item if item.isprintable() else repr(item)}"  # one line, whatever was typed
    return source


def apply_override(raw: dict, item: str, source: str = "config") -> None:
    """Apply one ``a.b.c=value`` (value parsed as YAML) to the raw dict in place."""
    key, sep, text = item.partition("=")
    key = key.strip()
    if not sep or not key or any(not part for part in key.split(".")):
        raise ConfigError(f"--set {item!r}: expected KEY=VALUE with a dotted key, e.g. --set train.epochs=3")
    try:
        value = yaml.safe_load(text) if text.strip() else None
    except yaml.YAMLError:
        value = text  # an unquoted string that is not valid YAML is taken literally
    parts = key.split(".")
    node: Any = raw
    for depth, part in enumerate(parts[:-1]):
        node = _child(node, part, ".".join(parts[: depth + 1]), item, create=True)
    last = parts[-1]
    if isinstance(node, list):
        index = _index(node, last, key, item)
        node[index] = value
    elif isinstance(node, dict):
        node[last] = value
    else:
        raise ConfigError(f"--set {item!r}: {'.'.join(parts[:-1])} is not a section, so it has no key {last!r}")


def _child(node, part, dotted, item, create):
    if isinstance(node, dict):
        if node.get(part) is None and create:
            node[part] = {}
        return node[part]
    if isinstance(node, list):
        return node[_index(node, part, dotted, item)]
    raise ConfigError(f"--set {item!r}: {dotted.rsplit('.', 1)[0]} is not a section")


def _index(node: list, part: str, dotted: str, item: str) -> int:
    if not re.fullmatch(r"-?\d+", part) or not -len(node) <= int(part) < len(node):
        raise ConfigError(f"--set {item!r}: {dotted} needs a list index from 0 to {len(node) - 1}")
    return int(part)


def dump_config(cfg: Config) -> str:
    """The fully resolved config as YAML; loading it back gives the same Config."""
    return yaml.safe_dump(cfg.model_dump(mode="json"), sort_keys=False)


# ---------------------------------------------------------------- error messages


def format_validation_error(exc: ValidationError) -> tuple[str, str]:
    """(dotted path, one-line problem) for the first error: the value and what is allowed."""
    errors = exc.errors()
    first = errors[0]
    loc = first["loc"]
    path = _dotted(loc)
    kind = first["type"]
    given = first.get("input")
    # A union field (e.g. "auto" | bool) fails once per member at the same path: one problem.
    same_path = [e for e in errors if _dotted(e["loc"]) == path]
    others = len(errors) - len(same_path)
    more = f" (and {others} more problem{'s' * (others > 1)})" if others else ""
    if kind == "invalid_key" or (loc and loc[-1] == "[key]"):  # YAML allows 1: or true: as keys
        where = loc[:-1] if kind == "invalid_key" else loc[:-2]
        return _dotted(where), f"key {given!r} is not a string; keys are names such as batch_size{more}"
    if kind == "extra_forbidden":
        allowed = list(_section_at(loc[:-1]).model_fields)
        name = str(loc[-1])
        refused = getattr(_section_at(loc[:-1]), "REFUSED_KEYS", {}).get(name)
        if refused:  # a known key from another tool: say why it is not here and what to use
            return path, f"{refused}{more}"
        hint = did_you_mean(name, allowed)
        return path, f"unknown key{hint}; allowed keys here: {', '.join(allowed)}{more}"
    if kind in ("literal_error", "enum"):
        expected = [
            value for e in same_path if e["type"] in ("literal_error", "enum")
            for value in _literal_choices(e.get("ctx", {}).get("expected", ""))
        ]  # fmt: skip
        hint = did_you_mean(str(given), expected)
        expected += ["true", "false"] if any(e["type"].startswith("bool") for e in same_path) else []
        return path, f"{given!r} is not allowed{hint}; choose one of: {', '.join(expected)}{more}"
    if kind == "model_type" or kind == "dict_type":
        return path, f"expected a mapping of keys, got {_type_name(given)} {_short(given)}{more}"
    message = first["msg"][0].lower() + first["msg"][1:]
    return path, f"{message}, got {_short(given)}{more}"


def _literal_choices(expected: str) -> list[str]:
    """pydantic's "'auto', 0, 1 or 2" -> ['auto', '0', '1', '2']."""
    return [m[0] or m[1] for m in re.findall(r"'([^']*)'|([^\s',]+)", re.sub(r"\s+or\s+", ", ", expected))]


def _dotted(loc) -> str:
    out = ""
    for part in loc:
        # pydantic reports which Union/Literal member failed as extra loc parts ('float',
        # 'tuple[float, float]', 'literal['auto']', 'function-after[...]'); no field name looks like those.
        if isinstance(part, str) and (
            "[" in part or part.startswith("function-") or part in ("bool", "int", "str", "float", "none")
        ):
            continue
        if not isinstance(part, int) and not re.fullmatch(r"[\w-]+", str(part)):
            part = repr(str(part))  # a key such as ' ' or 'a.b' or one with a newline stays visible, on one line
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out or "config"


def _section_at(loc) -> type[BaseModel]:
    model: type[BaseModel] = Config
    for part in loc:
        if isinstance(part, int):
            continue
        field = model.model_fields.get(part)
        sub = _model_in(field.annotation) if field else None
        if sub is None:
            break
        model = sub
    return model


def _model_in(annotation) -> type[BaseModel] | None:
    if isinstance(annotation, type) and issubclass(annotation, BaseModel):
        return annotation
    if typing.get_origin(annotation) in (Union, types.UnionType, list):
        for arg in typing.get_args(annotation):
            found = _model_in(arg)
            if found:
                return found
    return None


def did_you_mean(given: str, choices) -> str:
    close = difflib.get_close_matches(given, list(choices), n=1, cutoff=0.6)
    if not close:
        lowered = {c.lower(): c for c in choices}
        close = [lowered[given.lower()]] if given.lower() in lowered else []
    return f" (did you mean {close[0]!r}?)" if close else ""


def _type_name(value) -> str:
    return {dict: "a mapping", list: "a list", str: "a string", type(None): "nothing"}.get(
        type(value), f"a {type(value).__name__}"
    )


def _short(value) -> str:
    text = repr(value)
    return text if len(text) <= 60 else text[:57] + "..."


