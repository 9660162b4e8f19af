"""TFLite / LiteRT flatbuffer, float or quantized. labels.txt and cnnlab.json are also
packed into the file as TFLite associated files (a zip appended to the flatbuffer, as
the TFLite Support metadata tools do): ``zipfile.ZipFile("model.tflite")`` reads them.

Quantization modes (TFLite's post-training quantization):
  none     float32 everywhere
  dynamic  int8 weights, activations quantized on the fly   (~4x smaller)
  float16  float16 weights                                    (~2x smaller)
  int8     every tensor int8, uint8 pixels in and uint8 probabilities out, calibrated
           on the run's training images; needs no float hardware
"""

from __future__ import annotations

import io
import tempfile
import zipfile
from pathlib import Path

import numpy as np

from cnnlab.errors import ModelError
from cnnlab.export.artifact import Artifact, check_image_shape
from cnnlab.export.graph import LABELS_FILE, METADATA_FILE, class_names_from
from cnnlab.export.unsupported import unsupported_error

NAME = "tflite"
ARTIFACT = "model.tflite"
QUANTIZE = ("none", "dynamic", "float16", "int8")
# TensorFlow 2.20+ deprecates tf.lite.Interpreter for LiteRT's: the runtime comes from ai-edge-litert.
REQUIRES = (("ai_edge_litert.interpreter", "running a TFLite model"),)


def _representative(source):
    """Calibration batches for int8. One pixel 0 and one 255 pin the input range to
    0..255, so the uint8 input's scale is exactly 1 and zero point 0: raw pixels."""
    x = np.array(source.representative, np.float32)  # (N, H, W, C)
    x[0].flat[0], x[-1].flat[-1] = 0.0, 255.0

    def batches():
        for i in range(len(x)):
            yield [x[i : i + 1]]

    return batches


def _quantize(converter, source, quantize: str) -> None:
    tf = _tf()
    if quantize in ("dynamic", "float16", "int8"):
        converter.optimizations = [tf.lite.Optimize.DEFAULT]
    if quantize == "float16":
        converter.target_spec.supported_types = [tf.float16]
    if quantize == "int8":
        if source.representative is None or not len(source.representative):
            raise ModelError("int8 quantization needs representative training images; set --representative N > 0")
        converter.representative_dataset = _representative(source)
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS_INT8]
        converter.inference_input_type = tf.uint8
        converter.inference_output_type = tf.uint8
    else:
        converter.target_spec.supported_ops = [tf.lite.OpsSet.TFLITE_BUILTINS]  # no Flex ops: plain LiteRT runs it


def _tf():
    from cnnlab.backend import tf

    return tf()


def write(source, out_dir: Path, quantize: str) -> Path:
    from cnnlab.backend import _native_stderr_silenced
    from cnnlab.export.to_savedmodel import save_inference_graph

    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".graph.") as tmp:
        # int8: a float input the converter turns into uint8 with calibrated scale (1, 0 above);
        # float modes: the uint8 input and its cast are in the graph itself.
        graph = save_inference_graph(source, Path(tmp) / "graph", input_dtype="float32" if quantize == "int8" else "uint8")
        converter = _tf().lite.TFLiteConverter.from_saved_model(str(graph))
        _quantize(converter, source, quantize)
        try:
            with _native_stderr_silenced():  # the converter prints its settings from C++
                flatbuffer = converter.convert()
        except Exception as exc:  # the converter's own error types live in private modules
            raise unsupported_error("TFLite", str(exc), source.model) from None
    path = out_dir / ARTIFACT
    path.write_bytes(flatbuffer + _associated_files(out_dir))
    return path


def _associated_files(out_dir: Path) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_STORED) as archive:
        for name in (LABELS_FILE, METADATA_FILE):
            if (out_dir / name).is_file():
                archive.write(out_dir / name, name)
    return buffer.getvalue()


def is_artifact(path: Path) -> bool:
    return path.is_file() and path.suffix == ".tflite"


def load(path: Path, unsafe: bool = False) -> Artifact:
    from cnnlab.backend import _native_stderr_silenced
    from cnnlab.export.deps import require

    interpreter_module = require(REQUIRES[0][0], REQUIRES[0][1])
    path = Path(path)
    try:
        with _native_stderr_silenced():  # LiteRT's C++ "Created TensorFlow Lite XNNPACK delegate" line
            interpreter = interpreter_module.Interpreter(model_path=str(path))
            inp, out = interpreter.get_input_details()[0], interpreter.get_output_details()[0]
            if len(inp["shape"]) != 4:
                raise ModelError(f"TFLite model {path} does not take images (N, H, W, C); "
                                 "pass one written by cnnlab export")  # fmt: skip
            h, w, c = check_image_shape(path, inp["shape"][1:])  # before its tensors are allocated
            interpreter.allocate_tensors()
    except ModelError:
        raise
    except Exception as exc:
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load TFLite model {path}: {text}; export it again with cnnlab export") from None
    n_classes = int(out["shape"][-1])
    batch = [int(inp["shape"][0])]

    def run_batch(images):
        if len(images) != batch[0]:  # the batch dimension is dynamic: resize, then reallocate
            interpreter.resize_tensor_input(inp["index"], [len(images), h, w, c])
            interpreter.allocate_tensors()
            batch[0] = len(images)
        interpreter.set_tensor(inp["index"], _to_input(images, inp))
        interpreter.invoke()
        return _from_output(interpreter.get_tensor(out["index"]), out)

    return Artifact(path, NAME, _class_names(path, n_classes), (h, w, c), run_batch)


def _to_input(images: np.ndarray, detail: dict) -> np.ndarray:
    dtype = detail["dtype"]
    scale, zero = detail["quantization"]
    if np.issubdtype(dtype, np.integer) and scale and (scale, zero) != (1.0, 0):
        info = np.iinfo(dtype)  # a quantized input whose scale is not raw pixels
        return np.clip(np.rint(images / scale + zero), info.min, info.max).astype(dtype)
    return images.astype(dtype)


def _from_output(y: np.ndarray, detail: dict) -> np.ndarray:
    scale, zero = detail["quantization"]
    if np.issubdtype(y.dtype, np.integer) and scale:
        return (y.astype(np.float64) - zero) * scale  # uint8 probabilities in steps of 1/256
    return y.astype(np.float64)


def _class_names(path: Path, n_classes: int) -> list[str]:
    from cnnlab.export.graph import read_class_names

    try:  # the copy packed into the file travels with it; cnnlab.json keeps names with line breaks whole
        with zipfile.ZipFile(path) as archive:
            names = class_names_from(archive.read(METADATA_FILE), archive.read(LABELS_FILE))
        if names is not None and len(names) == n_classes:
            return names
    except (zipfile.BadZipFile, KeyError, OSError):
        pass
    return read_class_names(path.parent, n_classes)
