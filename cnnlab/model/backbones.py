"""Pretrained convolutional bases (keras.applications) as cnnlab models.

``build_backbone_model`` wraps a base so the model still takes raw pixels like every
other cnnlab model:

    image (H, W, C) 0..255 -> [ConvertChannels to 3] -> [Resizing to input_size]
      -> BackbonePreprocess (the family's own preprocess_input)
      -> base(x, training=False) -> pooling -> model.head

The base is called with training=False, so its BatchNorm layers stay in inference mode
(moving statistics frozen) even when fine-tuning unfreezes layers around them.

The facts about each backbone (sizes, preprocessing, weight files) are data in
cnnlab.config.backbones; this module builds from them.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from cnnlab import runs
from cnnlab.backend import keras
from cnnlab.config.backbones import REGISTRY, RUN_BACKBONE, Backbone, default_input_size
from cnnlab.model.layer_specs import make_layers
from cnnlab.errors import ConfigError, ModelError, did_you_mean, first_line
from cnnlab.layers import BackbonePreprocess, ConvertChannels
from cnnlab.model.augment import augment_inputs
from cnnlab.model.common import check_output, conv_and_pool_layers

def build_base(spec: Backbone, size: tuple[int, int], weights: str | None):
    """The keras.applications constructor of ``spec`` without its classifier top."""
    ctor = getattr(keras().applications, spec.constructor)
    return ctor(include_top=False, weights=weights, input_shape=(size[0], size[1], 3), pooling=None)


# ---------------------------------------------------------------- weights


def keras_home() -> Path:
    """Keras's cache root, exactly as Keras's own get_file sees it: $KERAS_HOME as it was
    when Keras was imported, else ~/.keras (or /tmp/.keras when home is not writable)."""
    try:
        from keras.src.backend.config import keras_home as home  # the accessor get_file uses
    except ImportError:  # a Keras that moved it: the same rule, read now
        return Path(os.environ.get("KERAS_HOME") or "~/.keras").expanduser()
    return Path(home()).expanduser()


def is_run_path(weights: str | None) -> bool:
    """A cnnlab run directory or a .keras model file (as opposed to a weights file)."""
    if not weights or weights in ("imagenet", "none"):
        return False
    path = Path(weights).expanduser()
    return path.suffix == ".keras" or (path.is_dir() and runs.RunDir(path).model.is_file())


def ensure_imagenet_weights(name: str, size: tuple[int, int]) -> Path:
    """Make sure the ImageNet weight file is in Keras's cache, downloading it with Keras's
    own get_file if need be. Never falls back to random weights: offline and uncached is
    an error that names the file and the ways out."""
    url = REGISTRY[name].weights_url_for(size)
    file = url.rsplit("/", 1)[1]
    cache = keras_home() / "models"
    if (cache / file).is_file():
        return cache / file
    reason = "downloads are disabled by CNNLAB_OFFLINE"
    if not os.environ.get("CNNLAB_OFFLINE"):
        try:
            return Path(keras().utils.get_file(file, url, cache_subdir="models"))
        except Exception as exc:  # no network, proxy, HTTP error: all end the same way
            detail = str(exc).split(" -- ")[-1].strip()[:80]  # Keras: "URL fetch failure on URL: None -- reason"
            reason = f"the download failed ({type(exc).__name__}: {detail})"
    raise ModelError(
        f"ImageNet weights for {name} ({file}) are not in {cache} and {reason}; "
        f"connect to the internet, or pre-seed the cache by copying {url} to {cache / file}, "
        "or set model.backbone.weights to a weights file (--weights PATH), or use weights: none (random init)"
    )


# ---------------------------------------------------------------- the convolutional base


@dataclass
class Base:
    model: object  # a keras Model: raw or preprocessed pixels -> 4-D feature maps
    size: tuple[int, int]  # (height, width) it takes
    channels: int  # 3 for registry backbones; the run's own for "run"
    family: str | None  # preprocess_input family, or None when the base preprocesses itself


def load_base(bc) -> Base:
    """Build the convolutional base the backbone config describes, with its weights."""
    if bc.name == RUN_BACKBONE:
        return _base_from_run(bc)
    spec = REGISTRY[bc.name]
    size = tuple(bc.input_size or default_input_size(bc.name))
    weights = bc.weights
    if weights in (None, "none"):
        model = build_base(spec, size, None)
    elif weights == "imagenet":
        cached = ensure_imagenet_weights(bc.name, size)
        # weights="imagenet", not the path: some constructors build differently for ImageNet
        # weights (EfficientNet adds a Rescaling); Keras finds the file in its cache.
        model = _build_with_file(spec, size, "imagenet", bc.name, shown=str(cached))
    elif is_run_path(weights):
        model = build_base(spec, size, None)
        _copy_from_run(model, weights, bc.name)
    else:
        model = _build_with_file(spec, size, str(Path(weights).expanduser()), bc.name)
    return Base(model, size, 3, spec.family)


def _build_with_file(spec: Backbone, size, path: str, name: str, shown: str | None = None):
    weights = path  # what the constructor gets: a file, or "imagenet" (then ``shown`` is the cached file)
    hint = (f"the file must hold {name} weights without the classifier top (include_top=False), "
            "e.g. saved with base.save_weights(...)")  # fmt: skip
    if shown:  # the ImageNet file in the cache: a damaged one is downloaded again once removed
        path, hint = shown, f"delete {shown} so that it is downloaded again, or use weights: none"
    try:  # the constructor's own loading code (model.load_weights), as Keras does for "imagenet"
        with warnings.catch_warnings(record=True) as caught:
            warnings.simplefilter("always")
            model = build_base(spec, size, weights)
    except Exception as exc:
        raise ModelError(f"cannot load weights {path} into {name}: {first_line(exc).rstrip(':. ')[:200]}; {hint}") from None
    # Keras only warns when parts of a .weights.h5 file do not match and keeps those layers
    # random: that would be a silent switch to random weights, so it is an error here.
    skipped = [w for w in caught if "freshly-initialized" in str(w.message) or "Skipping" in str(w.message)]
    if skipped:
        raise ModelError(f"cannot load weights {path} into {name}: {len(skipped)} part(s) do not match; {hint}")
    return model


def _load_run_model(weights: str):
    path = Path(weights).expanduser()
    # finetune has no --unsafe: a base model is data, never code
    return runs.load_model(runs.RunDir(path).model if path.is_dir() else path, unsafe_fix="use a run or .keras file without Lambda layers as the base")


def _copy_from_run(model, weights: str, name: str) -> None:
    """A finetune run's nested base -> this freshly built base (same architecture)."""
    source = find_backbone(_load_run_model(weights))
    src_weights = source.get_weights() if source is not None else []
    shapes = [tuple(w.shape) for w in model.get_weights()]
    if [tuple(w.shape) for w in src_weights] != shapes:
        found = f"a {source.name} backbone" if source is not None else "no pretrained backbone"
        raise ConfigError(
            f"model.backbone.weights: {weights} holds {found}, not {name}; "
            f"use name: run to transfer its convolutional layers, or pass a {name} run"
        )
    model.set_weights(src_weights)


def _base_from_run(bc) -> Base:
    """The convolutional part of a cnnlab run: raw pixels -> its last 4-D feature map,
    including the run's own rescaling / input adaptation (so no extra preprocessing)."""
    if not is_run_path(bc.weights):
        raise ConfigError("model.backbone.weights: name: run needs a cnnlab run directory or .keras file here")
    source = _load_run_model(bc.weights)
    conv = conv_and_pool_layers(source)
    if not conv:
        raise ConfigError(f"model.backbone.weights: {bc.weights} has no convolutional layers to transfer")
    # Built from the source model's own graph, so no "Graph disconnected".
    model = keras().Model(source.input, conv[-1].output, name="run_backbone")
    h, w, c = (int(d) for d in source.input.shape[1:])
    if bc.input_size and tuple(bc.input_size) != (h, w):
        raise ConfigError(
            f"model.backbone.input_size: {list(bc.input_size)} differs from the run's input size [{h}, {w}]; "
            "remove input_size (images are resized to the run's size)"
        )
    return Base(model, (h, w), c, None)


def find_backbone(model):
    """The nested base model inside a cnnlab backbone model (None for a plain model).
    Probes of inner layers must be built from its own graph: base.input -> inner.output."""
    for layer in model.layers:
        if isinstance(layer, keras().Model):
            return layer
    return None


# ---------------------------------------------------------------- the full model


def build_backbone_model(cfg, input_shape: tuple[int, int, int], num_classes: int):
    """Raw pixels (H, W, C) -> input adaptation -> frozen base -> pooling -> head."""
    k = keras()
    bc = cfg.model.backbone
    base = load_base(bc)
    check_unfreeze(bc, base.model)
    inputs = k.Input(shape=input_shape, name="image")  # (N, H, W, C) raw pixels 0..255

    x = augment_inputs(inputs, cfg.augment, cfg.seed)  # on raw pixels, training only; none when off
    if input_shape[-1] != base.channels:  # grayscale -> RGB for ImageNet bases
        x = ConvertChannels(base.channels, name="convert_channels")(x)
    if tuple(input_shape[:2]) != base.size:
        x = k.layers.Resizing(*base.size, interpolation="bilinear", name="resize")(x)  # (N, h, w, 3)
    if base.family:
        x = BackbonePreprocess(base.family, name="preprocess")(x)
    # training=False: BatchNorm uses its moving statistics and never updates them, even after unfreezing.
    x = base.model(x, training=False)  # (N, h', w', C')
    pooling = {"avg": k.layers.GlobalAveragePooling2D, "max": k.layers.GlobalMaxPooling2D, "flatten": k.layers.Flatten}
    x = pooling[pooling_for(bc)](name="pooling")(x)  # (N, features): what cache_features stores
    head = cfg.model.head or [{"type": "Dense", "units": num_classes, "activation": "softmax"}]
    for i, layer in enumerate(make_layers(head, "model.head")):
        try:
            x = layer(x)
        except Exception as exc:
            raise ConfigError(f"model.head[{i}] ({type(layer).__name__}) cannot take the pooled features: {first_line(exc)}") from None
    check_output(x, num_classes, len(head), path="model.head")
    model = k.Model(inputs, x, name=cfg.name)
    base.model.trainable = False  # feature extraction / phase 1: only the head learns
    return model


def pooling_for(bc) -> str:
    """model.backbone.pooling, with auto resolved: ImageNet bases end in many channels
    trained to be averaged; a cnnlab run's base is small, and its maps' positions matter."""
    if bc.pooling != "auto":
        return bc.pooling
    return "flatten" if bc.name == RUN_BACKBONE else "avg"


def fit_run_unfreeze(cfg):
    """--backbone run with the config file's unfreeze (10, sized for ResNet50) and a run whose
    convolutional base is smaller: unfreeze all of its layers instead. -> (cfg, note or "")."""
    bc = cfg.model.backbone
    if bc is None or bc.name != RUN_BACKBONE or bc.mode != "fine_tune" or bc.unfreeze is None or not is_run_path(bc.weights):
        return cfg, ""
    count = len(base_layers(_base_from_run(bc).model))
    if bc.unfreeze <= count:
        return cfg, ""
    fitted = bc.model_copy(update={"unfreeze": count})
    note = (f"the run's base has {count} layers: phase 2 unfreezes all {count} (the config's unfreeze is "
            f"{bc.unfreeze}; --unfreeze N picks fewer)")  # fmt: skip
    return cfg.model_copy(update={"model": cfg.model.model_copy(update={"backbone": fitted})}), note


def check_unfreeze(bc, base_model) -> None:
    """unfreeze / unfreeze_from must fit the built base (known only once it is built)."""
    layers = base_layers(base_model)
    if bc.unfreeze is not None and bc.unfreeze > len(layers):
        raise ConfigError(
            f"model.backbone.unfreeze: {bc.unfreeze} is more than the {len(layers)} layers of {bc.name}; "
            f"use at most {len(layers)}"
        )
    if bc.unfreeze_from is not None and bc.unfreeze_from not in [layer.name for layer in layers]:
        hint = did_you_mean(bc.unfreeze_from, [layer.name for layer in layers])
        raise ConfigError(
            f"model.backbone.unfreeze_from: {bc.unfreeze_from!r} is not a layer of {bc.name}{hint}; "
            f"the last layers are {', '.join(layer.name for layer in layers[-3:])}"
        )


def base_layers(base_model) -> list:
    """The base's layers in order, without its InputLayer."""
    return [layer for layer in base_model.layers if not isinstance(layer, keras().layers.InputLayer)]
