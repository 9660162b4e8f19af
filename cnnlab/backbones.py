"""Pretrained convolutional bases (keras.applications) as cnnlab models.

One registry, ``REGISTRY``: name -> the Keras constructor, the module whose
``preprocess_input`` the weights expect, the minimum and default input sizes, and the
ImageNet weight file Keras caches. ``build_backbone_model`` wraps a base so the model
still takes raw pixels like every other cnnlab model:

    image (H, W, C) 0..255 -> [ConvertChannels to 3] -> [Resizing to input_size]
      -> BackbonePreprocess (the family's own preprocess_input)
      -> base(x, training=False) -> pooling -> model.head

The base is called with training=False, so its BatchNorm layers stay in inference mode
(moving statistics frozen) even when fine-tuning unfreezes layers around them.

This module imports no TensorFlow at import time: the config step reads sizes from it.
"""

from __future__ import annotations

import os
import warnings
from dataclasses import dataclass
from pathlib import Path

from cnnlab.errors import ConfigError, ModelError

_KA = "https://storage.googleapis.com/tensorflow/keras-applications/"
# The pseudo-backbone "run": the convolutional part of the cnnlab run named in weights.
RUN_BACKBONE = "run"


@dataclass(frozen=True)
class Backbone:
    constructor: str  # keras.applications.<constructor>
    family: str  # keras.applications.<family>.preprocess_input is the one its weights expect
    min_size: int  # smallest height/width the architecture accepts
    default_size: int  # the size its ImageNet weights were trained at
    preprocessing: str  # what preprocess_input does: caffe | tf | torch | none (the base rescales itself)
    weights_url: str  # ImageNet weights without the classifier top (include_top=False)

    @property
    def weights_file(self) -> str:
        return self.weights_url.rsplit("/", 1)[1]

    def weights_url_for(self, size: tuple[int, int]) -> str:
        """The file Keras's constructor asks for at this input size: one per backbone,
        except MobileNetV2, which has one per square size in 96..224 (224 otherwise)."""
        if self.constructor != "MobileNetV2":
            return self.weights_url
        rows = size[0] if size[0] == size[1] and size[0] in (96, 128, 160, 192, 224) else 224
        return self.weights_url.replace("_224_no_top", f"_{rows}_no_top")

    def build(self, size: tuple[int, int], weights: str | None):
        from cnnlab.backend import keras

        ctor = getattr(keras().applications, self.constructor)
        return ctor(include_top=False, weights=weights, input_shape=(size[0], size[1], 3), pooling=None)

    def preprocess_input(self):
        from cnnlab.backend import keras

        return getattr(keras().applications, self.family).preprocess_input


REGISTRY: dict[str, Backbone] = {
    "vgg16": Backbone("VGG16", "vgg16", 32, 224, "caffe", _KA + "vgg16/vgg16_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "vgg19": Backbone("VGG19", "vgg19", 32, 224, "caffe", _KA + "vgg19/vgg19_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "resnet50": Backbone("ResNet50", "resnet50", 32, 224, "caffe",
                         _KA + "resnet/resnet50_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "resnet50v2": Backbone("ResNet50V2", "resnet_v2", 32, 224, "tf",
                           _KA + "resnet/resnet50v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "resnet101": Backbone("ResNet101", "resnet", 32, 224, "caffe",
                          _KA + "resnet/resnet101_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "xception": Backbone("Xception", "xception", 71, 299, "tf",
                         _KA + "xception/xception_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "inceptionv3": Backbone("InceptionV3", "inception_v3", 75, 299, "tf",
                            _KA + "inception_v3/inception_v3_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "inceptionresnetv2": Backbone("InceptionResNetV2", "inception_resnet_v2", 75, 299, "tf",
                                  _KA + "inception_resnet_v2/inception_resnet_v2_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    # Keras picks the 224 file when the input size is not one of 96/128/160/192/224.
    "mobilenetv2": Backbone("MobileNetV2", "mobilenet_v2", 32, 224, "tf",
                            _KA + "mobilenet_v2/mobilenet_v2_weights_tf_dim_ordering_tf_kernels_1.0_224_no_top.h5"),
    "efficientnetb0": Backbone("EfficientNetB0", "efficientnet", 32, 224, "none",
                               "https://storage.googleapis.com/keras-applications/efficientnetb0_notop.h5"),
    "densenet121": Backbone("DenseNet121", "densenet", 32, 224, "torch",
                            _KA + "densenet/densenet121_weights_tf_dim_ordering_tf_kernels_notop.h5"),
    "convnext_tiny": Backbone("ConvNeXtTiny", "convnext", 32, 224, "none", _KA + "convnext/convnext_tiny_notop.h5"),
}  # fmt: skip

PREPROCESSING_MEANING = {
    "caffe": "RGB->BGR, subtract the ImageNet mean, no scaling",
    "tf": "scale to [-1, 1]",
    "torch": "scale to [0, 1], normalise by the ImageNet mean/std",
    "none": "the base rescales 0..255 itself",
}


def default_input_size(name: str) -> tuple[int, int]:
    size = REGISTRY[name].default_size
    return size, size


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
    return path.suffix == ".keras" or (path.is_dir() and (path / "model.keras").is_file())


def ensure_imagenet_weights(name: str, size: tuple[int, int]) -> Path:
    """Make sure the ImageNet weight file is in Keras's cache, downloading it with Keras's
    own get_file if need be. Never falls back to random weights: offline and uncached is
    an error that names the file and the ways out."""
    from cnnlab.backend import keras

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
        model = spec.build(size, None)
    elif weights == "imagenet":
        cached = ensure_imagenet_weights(bc.name, size)
        # weights="imagenet", not the path: some constructors build differently for ImageNet
        # weights (EfficientNet adds a Rescaling); Keras finds the file in its cache.
        model = _build_with_file(spec, size, "imagenet", bc.name, shown=str(cached))
    elif is_run_path(weights):
        model = spec.build(size, None)
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
            model = spec.build(size, weights)
    except Exception as exc:
        first = str(exc).strip().splitlines()[0].rstrip(":. ") if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load weights {path} into {name}: {first[:200]}; {hint}") from None
    # Keras only warns when parts of a .weights.h5 file do not match and keeps those layers
    # random: that would be a silent switch to random weights, so it is an error here.
    skipped = [w for w in caught if "freshly-initialized" in str(w.message) or "Skipping" in str(w.message)]
    if skipped:
        raise ModelError(f"cannot load weights {path} into {name}: {len(skipped)} part(s) do not match; {hint}")
    return model


def _load_run_model(weights: str):
    from cnnlab.runs import load_model

    path = Path(weights).expanduser()
    return load_model(path / "model.keras" if path.is_dir() else path)


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
    from cnnlab.backend import keras
    from cnnlab.models import conv_and_pool_layers

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
    from cnnlab.backend import keras

    for layer in model.layers:
        if isinstance(layer, keras().Model):
            return layer
    return None


# ---------------------------------------------------------------- the full model


def build_backbone_model(cfg, input_shape: tuple[int, int, int], num_classes: int):
    """Raw pixels (H, W, C) -> input adaptation -> frozen base -> pooling -> head."""
    from cnnlab.backend import keras
    from cnnlab.layer_specs import make_layers
    from cnnlab.layers import BackbonePreprocess, ConvertChannels
    from cnnlab.models import check_output

    k = keras()
    bc = cfg.model.backbone
    base = load_base(bc)
    check_unfreeze(bc, base.model)
    inputs = k.Input(shape=input_shape, name="image")  # (N, H, W, C) raw pixels 0..255
    from cnnlab.augment import augment_inputs

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
    x = pooling[bc.pooling](name="pooling")(x)  # (N, features): what cache_features stores
    head = cfg.model.head or [{"type": "Dense", "units": num_classes, "activation": "softmax"}]
    for i, layer in enumerate(make_layers(head, "model.head")):
        try:
            x = layer(x)
        except Exception as exc:
            text = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
            raise ConfigError(f"model.head[{i}] ({type(layer).__name__}) cannot take the pooled features: {text}") from None
    check_output(x, num_classes, len(head), path="model.head")
    model = k.Model(inputs, x, name=cfg.name)
    base.model.trainable = False  # feature extraction / phase 1: only the head learns
    return model


def check_unfreeze(bc, base_model) -> None:
    """unfreeze / unfreeze_from must fit the built base (known only once it is built)."""
    layers = base_layers(base_model)
    if bc.unfreeze is not None and bc.unfreeze > len(layers):
        raise ConfigError(
            f"model.backbone.unfreeze: {bc.unfreeze} is more than the {len(layers)} layers of {bc.name}; "
            f"use at most {len(layers)}"
        )
    if bc.unfreeze_from is not None and bc.unfreeze_from not in [layer.name for layer in layers]:
        from cnnlab.config import did_you_mean

        hint = did_you_mean(bc.unfreeze_from, [layer.name for layer in layers])
        raise ConfigError(
            f"model.backbone.unfreeze_from: {bc.unfreeze_from!r} is not a layer of {bc.name}{hint}; "
            f"the last layers are {', '.join(layer.name for layer in layers[-3:])}"
        )


def base_layers(base_model) -> list:
    """The base's layers in order, without its InputLayer."""
    from cnnlab.backend import keras

    return [layer for layer in base_model.layers if not isinstance(layer, keras().layers.InputLayer)]
