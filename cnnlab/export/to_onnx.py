"""ONNX (onnxruntime and every other ONNX runtime), converted by tf2onnx from the
inference graph. Class names and cnnlab.json go into the model's metadata_props
(``onnxruntime.InferenceSession(p).get_modelmeta().custom_metadata_map``).

Quantization: none; dynamic (onnxruntime's: uint8 weights, activations quantized on the
fly); float16 and int8 (static, calibrated): cnnlab.export.onnx_quantize.
"""

from __future__ import annotations

import json
import logging
import tempfile
from contextlib import contextmanager
from pathlib import Path

from cnnlab.errors import ModelError
from cnnlab.export.artifact import Artifact, check_image_shape
from cnnlab.export.graph import OUTPUT_NAME, input_spec, metadata_from_dir, probabilities_fn
from cnnlab.export.unsupported import unsupported_error

NAME = "onnx"
ARTIFACT = "model.onnx"
QUANTIZE = ("none", "dynamic", "float16", "int8")
OPSET = 17  # onnxruntime >= 1.13 runs it; tf2onnx's well-tested range
REQUIRES = (
    ("tf2onnx", "ONNX export"),
    ("onnx", "ONNX export"),
    ("onnxruntime", "running an ONNX model"),
)


@contextmanager
def _captured_log(name: str):
    """tf2onnx logs unsupported ops (and keeps going) instead of raising: collect its lines."""
    lines: list[str] = []

    class Collect(logging.Handler):
        def emit(self, record):
            lines.append(record.getMessage())

    logger, handler = logging.getLogger(name), Collect(logging.WARNING)
    logger.addHandler(handler)
    propagate, logger.propagate = logger.propagate, False  # reported once, as our error line
    try:
        yield lines
    finally:
        logger.removeHandler(handler)
        logger.propagate = propagate


def write(source, out_dir: Path, quantize: str) -> Path:
    import onnx
    import tf2onnx

    from cnnlab.backend import tf

    fn = probabilities_fn(source.model)
    spec = input_spec(source.image_shape)
    graph = tf().function(lambda image: {OUTPUT_NAME: fn(image)}, input_signature=[spec], autograph=False)
    with _captured_log("tf2onnx") as lines:
        try:
            proto, _ = tf2onnx.convert.from_function(graph, input_signature=[spec], opset=OPSET)
        except Exception as exc:
            raise unsupported_error("ONNX", "\n".join([str(exc), *lines]), source.model) from None
    problems = [line for line in lines if "not supported" in line or "Unsupported" in line]
    if problems:
        raise unsupported_error("ONNX", "\n".join(problems), source.model)
    for tensor in (*proto.graph.input, *proto.graph.output):  # tf2onnx calls the batch axis unk__N
        tensor.type.tensor_type.shape.dim[0].dim_param = "batch"
    path = out_dir / ARTIFACT
    if quantize == "dynamic":
        proto = _quantize_dynamic(proto, out_dir)
    elif quantize != "none":
        from cnnlab.export.onnx_quantize import quantize as quantize_graph

        proto = quantize_graph(proto, quantize, source, out_dir)
    meta = metadata_from_dir(out_dir)
    props = {"class_names": json.dumps(meta.get("class_names", [])), "cnnlab": json.dumps(meta)}
    onnx.helper.set_model_props(proto, props)
    proto.doc_string = "cnnlab export: image uint8 (N, H, W, C) raw pixels -> probabilities float32 (N, classes)"
    onnx.save(proto, str(path))
    return path


def _quantize_dynamic(proto, out_dir: Path):
    import onnx
    from onnxruntime.quantization import QuantType, quantize_dynamic

    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".quant.") as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "dynamic.onnx"
        onnx.save(proto, str(src))
        # uint8 weights: onnxruntime's CPU ConvInteger has no int8 x int8 kernel.
        logging.disable(logging.WARNING)  # its advice to pre-process is for large float graphs
        try:
            quantize_dynamic(str(src), str(dst), weight_type=QuantType.QUInt8)
        finally:
            logging.disable(logging.NOTSET)
        return onnx.load(str(dst))


def is_artifact(path: Path) -> bool:
    return path.is_file() and path.suffix == ".onnx"


def load(path: Path, unsafe: bool = False) -> Artifact:
    from cnnlab.export.deps import require
    from cnnlab.export.graph import read_class_names

    ort = require("onnxruntime", "running an ONNX model")
    path = Path(path)
    try:
        options = ort.SessionOptions()
        options.log_severity_level = 3  # errors only
        session = ort.InferenceSession(str(path), options, providers=["CPUExecutionProvider"])
    except Exception as exc:
        text = str(exc).strip().splitlines()[0][:200] if str(exc).strip() else type(exc).__name__
        raise ModelError(f"cannot load ONNX model {path}: {text}; export it again with cnnlab export") from None
    inp, out = session.get_inputs()[0], session.get_outputs()[0]
    if len(inp.shape) != 4:
        raise ModelError(f"ONNX model {path} does not take images (N, H, W, C); pass one written by cnnlab export")
    h, w, c = check_image_shape(path, inp.shape[1:])  # before any image is sized to it
    n_classes = int(out.shape[-1])
    names = json.loads(session.get_modelmeta().custom_metadata_map.get("class_names", "[]") or "[]")
    if len(names) != n_classes:
        names = read_class_names(path.parent, n_classes)
    dtype = "uint8" if inp.type == "tensor(uint8)" else "float32"

    def run_batch(images):
        return session.run([out.name], {inp.name: images.astype(dtype)})[0]

    return Artifact(path, NAME, [str(n) for n in names], (h, w, c), run_batch)

