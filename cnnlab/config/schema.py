"""The config schema: every section, key, type and default lives here and only here.

Pydantic models with ``extra="forbid"``, so a typo is an error, never silently ignored.
The choices that come from registries (data sources, backbones) are read from the
fact sheets beside this module, which import no TensorFlow.
"""

from __future__ import annotations

from typing import Annotated, Any, ClassVar, Literal

from pydantic import BaseModel, ConfigDict, Field, PrivateAttr, field_validator
from pydantic_core import PydanticCustomError

from cnnlab.config.backbones import REGISTRY as BACKBONES
from cnnlab.config.backbones import RUN_BACKBONE
from cnnlab.config.sources import SOURCES
from cnnlab.config.trackers import TRACKERS
from cnnlab.config.tune import TuneConfig


class Section(BaseModel):
    # Unknown keys are errors (typos must not be silently ignored).
    model_config = ConfigDict(extra="forbid", validate_assignment=True)


class DataConfig(Section):
    source: Literal[tuple(SOURCES)] = "fashion_mnist"  # type: ignore[valid-type]  # cnnlab.config.sources
    path: str | None = Field(None, description="file or folder; for IDX sources a folder to look in first")
    validation_split: float = Field(0.2, ge=0.0, le=0.9)
    limit: int | None = Field(None, ge=1, description="use at most N training and N test images")
    image_size: tuple[int, int] | None = Field(None, description="resize to [height, width]")
    color_mode: Literal["grayscale", "rgb"] | None = None
    batch_size: int = Field(32, ge=1, le=65536)
    class_names: list[str] | None = None
    cache: Literal["auto", "none", "memory", "disk"] = Field(
        "auto", description="image folders: auto = memory under 1 GB decoded, else stream from disk")
    cache_dir: str | None = Field(None, description="data.cache disk: folder for decoded images (outputs/.cache/images)")


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


class ReduceLRConfig(Section):
    """Lower the learning rate when train.monitor stops improving (Keras ReduceLROnPlateau)."""

    enabled: bool = False
    factor: float = Field(0.5, gt=0.0, lt=1.0, description="new rate = rate * factor")
    patience: int = Field(2, ge=0, description="epochs without improvement before lowering")
    min_delta: float = Field(0.0, ge=0.0)
    cooldown: int = Field(0, ge=0, description="epochs to wait after lowering")
    min_lr: float = Field(0.0, ge=0.0)


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
    reduce_lr: ReduceLRConfig = ReduceLRConfig()
    tensorboard: bool = True
    # auto: 8 for a model built from layers (a call into TensorFlow costs ~8 % of a small
    # model's step), 1 with a pretrained backbone (long steps; Ctrl-C answers every batch)
    # and under tf.distribute (Keras's multi-step loop fails there: cnnlab.train.compile)
    steps_per_execution: Literal["auto"] | Annotated[int, Field(ge=1)] = "auto"
    # "auto" = on where it helps (GPU), off on CPU, where XLA made epochs about 2.5x slower.
    jit_compile: Literal["auto"] | bool = "auto"
    # auto: mixed_float16 with a GPU; on a CPU mixed_bfloat16 where TensorFlow multiplies bfloat16
    # natively (AVX512_BF16/AMX, oneDNN allowed to use them), else float32 (software bfloat16 is
    # ~10x slower). true: mixed_float16 on GPU, mixed_bfloat16 on any CPU. false: float32.
    mixed_precision: Literal["auto", "mixed_float16", "mixed_bfloat16"] | bool = "auto"
    # auto: the progress bar on a terminal, one line per epoch when output goes to a file (Keras's 2)
    verbose: Literal["auto", 0, 1, 2] = "auto"
    # tf.distribute (cnnlab.train.distribute): none | mirrored (one process, local GPUs or `devices`)
    # | multi_worker (one process per machine, TF_CONFIG) | auto. data.batch_size is the global batch.
    distribute: Literal["none", "mirrored", "multi_worker", "auto"] = "none"
    devices: list[str] | None = Field(None, description="mirrored only: e.g. [GPU:0, GPU:1]; default all GPUs")
    # none | balanced (n / (classes * n_c)) | {class_name: weight}; cnnlab.train.class_weights applies it.
    class_weight: Literal["none", "balanced"] | dict[str, Annotated[float, Field(gt=0)]] = "none"


class AugmentConfig(Section):
    """Training-time augmentation in ImageDataGenerator's vocabulary and units; the
    defaults mean none. cnnlab.model.augment documents the mapping to Keras layers."""

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
    """A pretrained convolutional base (cnnlab.config.backbones) under model.head."""

    name: Literal[(*BACKBONES, RUN_BACKBONE)] = Field(  # type: ignore[valid-type]
        description="registry name (cnnlab backbones), or run: the conv layers of the cnnlab run in weights"
    )
    weights: str | None = Field("imagenet", description="imagenet | none | a weights file | a cnnlab run dir or .keras")
    mode: Literal["feature_extraction", "fine_tune"] = "feature_extraction"
    input_size: tuple[int, int] | None = Field(None, description="[height, width] the base sees; default: its default")
    # auto: avg for ImageNet bases (trained for global pooling), flatten for name: run (a small
    # base's last maps keep where things are: avg gave 0.33 test accuracy there, flatten 0.80)
    pooling: Literal["auto", "avg", "max", "flatten"] = "auto"
    unfreeze: int | None = Field(None, ge=1, description="fine_tune: the top N base layers (BatchNorm stays frozen)")
    unfreeze_from: str | None = Field(None, description="fine_tune: unfreeze from this base layer to the top")
    cache_features: bool = Field(False, description="feature_extraction: run the base once, train the head on features")


class FinetuneConfig(Section):
    """Phase 2 of model.backbone.mode fine_tune: after train.epochs of head-only training."""

    epochs: int = Field(10, ge=1, le=10000)
    learning_rate: float = Field(1e-5, gt=0.0, le=1.0, description="low, so the pretrained weights move little")


class ModelConfig(Section):
    # Each item: {type: <keras.layers class>, <its arguments>...}; checked in cnnlab.config.layer_specs (structure) and cnnlab.model.layer_specs (Keras).
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
    tune: TuneConfig | None = None  # the search space of cnnlab tune (cnnlab.config.tune); others ignore it
    # Experiment trackers every run of this config logs to (cnnlab.config.trackers, cnnlab.track).
    track: list[Literal[tuple(TRACKERS)]] = []  # type: ignore[valid-type]
    # Where the config came from (file name, --set items): checks made later, in the model
    # stage, still blame the file or the --set item that wrote a key (cnnlab.config.blame).
    _source: str = PrivateAttr("config")
    _overrides: tuple = PrivateAttr(())

    def __eq__(self, other) -> bool:  # the same experiment, wherever it was read from
        return isinstance(other, Config) and self.__dict__ == other.__dict__

    __hash__ = None
