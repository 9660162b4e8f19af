"""Open an exported artifact (a .tflite or .onnx file, a SavedModel directory) for
``cnnlab predict``: the first format whose is_artifact() recognises the path loads it."""

from __future__ import annotations

from pathlib import Path

from cnnlab.export.artifact import Artifact


def is_exported(path) -> bool:
    return _find(Path(path)) is not None


def _find(path: Path):
    """(format module, artifact path) for an artifact, or for an export folder holding one
    (RUN/export/tflite-int8/ -> its model.tflite)."""
    from cnnlab.export.formats import FORMATS
    from cnnlab.runs import RunDir

    run = RunDir(path)
    if run.is_run() or run.model.is_file():  # a run folder means its own model, never a planted artifact
        return None
    for module in FORMATS.values():
        if module.is_artifact(path):
            return module, path
    if path.is_dir():
        inside = [(m, path / m.ARTIFACT) for m in FORMATS.values() if m.is_artifact(path / m.ARTIFACT)]
        if len(inside) == 1:
            return inside[0]
    return None


def load_exported(path, unsafe: bool = False) -> Artifact:
    """-> Artifact (predict(uint8 images) -> probabilities, class_names, image_shape).
    ``unsafe`` lets a SavedModel hold ops outside the inference allow-list (graph_ops)."""
    from cnnlab.errors import ModelError

    if not Path(path).exists():
        raise ModelError(f"{path} does not exist; pass a .tflite or .onnx file or a SavedModel directory from cnnlab export")
    found = _find(Path(path))
    if found is not None:
        module, artifact = found
        return module.load(artifact, unsafe=unsafe)
    raise ModelError(f"{path} is not an exported model; pass a .tflite or .onnx file or a SavedModel directory")
