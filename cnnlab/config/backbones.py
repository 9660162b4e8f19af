"""The backbone fact sheet: every pretrained base cnnlab knows, as data.

One registry, ``REGISTRY``: name -> the keras.applications constructor, the module whose
``preprocess_input`` its weights expect, the minimum and default input sizes, and the
ImageNet weight file Keras caches. The config step reads names and sizes from here
without importing TensorFlow; cnnlab.model.backbones builds the bases. Adding a
backbone is one entry here.
"""

from __future__ import annotations

from dataclasses import dataclass

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
