"""Export a trained model as a SavedModel, TFLite or ONNX artifact that predicts
exactly what the run predicts, and load such artifacts back for ``cnnlab predict``.

    export_run(loaded, ["tflite"], quantize="int8")   # -> list[ExportResult]

Every artifact is an inference graph (augmentation off), takes raw uint8 pixels
(None, H, W, C) named ``image``, returns softmax ``probabilities`` (None, classes),
carries the class names, and was verified in its own runtime before it was kept.
The format writers are registered in cnnlab.export.formats.FORMATS.
"""

from cnnlab.export.exporter import ExportResult, export_run

__all__ = ["ExportResult", "export_run"]
