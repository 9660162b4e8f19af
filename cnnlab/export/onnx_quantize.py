"""ONNX float16 and int8: the float graph from tf2onnx, rewritten by onnxruntime's own tools
(no extra package: onnxruntime ships both).

- float16: every float initializer and op in float16 (onnxruntime.transformers.float16),
  the uint8 ``image`` input and float32 ``probabilities`` output kept (keep_io_types), so
  callers see the same signature; ~2x smaller.
- int8: static quantization (onnxruntime.quantization.quantize_static, QDQ format): int8
  weights per channel, uint8 activations with ranges calibrated on the run's training
  images (``--representative``); the input stays raw uint8 pixels and the output float32
  probabilities (dequantized at the end); ~4x smaller.
"""

from __future__ import annotations

import logging
import tempfile
from pathlib import Path

import numpy as np

from cnnlab.errors import ModelError
from cnnlab.export.graph import INPUT_NAME

# Ops float16 conversion leaves in float32: onnxruntime's CPU provider has no float16
# kernel for them (it has for Conv, MatMul, Gemm, Add, Relu, ... since 1.16).
FLOAT16_BLOCKED = ["Resize", "Softmax", "ReduceMean", "GlobalAveragePool", "GlobalMaxPool", "Max", "Min"]


def quantize(proto, quantize: str, source, out_dir: Path):
    if quantize == "float16":
        return _float16(proto)
    if quantize == "int8":
        return _int8(proto, source, out_dir)
    raise ValueError(f"no ONNX quantization {quantize!r} here")


def _float16(proto):
    from onnxruntime.transformers.float16 import convert_float_to_float16

    logging.disable(logging.WARNING)  # its notes on values clamped to float16's range
    try:
        return convert_float_to_float16(proto, keep_io_types=True, op_block_list=FLOAT16_BLOCKED)
    finally:
        logging.disable(logging.NOTSET)


class _Calibration:
    """onnxruntime's CalibrationDataReader: one training image a batch, as uint8 pixels."""

    def __init__(self, images: np.ndarray):
        self.images = np.asarray(images, np.uint8)
        self.index = 0

    def get_next(self):
        if self.index >= len(self.images):
            return None
        batch = self.images[self.index : self.index + 1]
        self.index += 1
        return {INPUT_NAME: batch}

    def rewind(self):
        self.index = 0


def _int8(proto, source, out_dir: Path):
    import onnx
    from onnxruntime.quantization import CalibrationMethod, QuantFormat, QuantType, quantize_static

    if source.representative is None or not len(source.representative):
        raise ModelError("int8 quantization needs representative training images; set --representative N > 0")
    with tempfile.TemporaryDirectory(dir=out_dir, prefix=".quant.") as tmp:
        src, dst = Path(tmp) / "float.onnx", Path(tmp) / "int8.onnx"
        onnx.save(proto, str(src))
        logging.disable(logging.WARNING)  # its advice to pre-process is for large float graphs
        try:
            quantize_static(str(src), str(dst), _Calibration(source.representative), quant_format=QuantFormat.QDQ,
                            activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=True,
                            calibrate_method=CalibrationMethod.MinMax)  # fmt: skip
        finally:
            logging.disable(logging.NOTSET)
        return onnx.load(str(dst))
