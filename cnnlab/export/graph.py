"""The inference graph every format exports, and the facts written beside it.

A cnnlab model's augmentation layers are only identity when called with
training=False; Keras 3.15's own ``model.export()`` calls the model without it, so
Random* layers would keep transforming images in the artifact. Every writer here
exports ``probabilities`` below instead: uint8 pixels in, softmax out."""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab import runs

INPUT_NAME = "image"
OUTPUT_NAME = "probabilities"
LABELS_FILE = "labels.txt"
METADATA_FILE = "cnnlab.json"


@dataclass
class Source:
    """What is being exported: the Keras model and the facts every artifact carries."""

    model: object
    class_names: list[str]
    image_shape: tuple[int, int, int]  # (H, W, C)
    origin: str  # the run directory or .keras file
    representative: np.ndarray | None = None  # uint8 (N, H, W, C) training images, for int8
    extra: dict = field(default_factory=dict)


def probabilities_fn(model):
    """x (N, H, W, C) any dtype, pixels 0..255 -> float32 softmax probabilities (N, classes)."""
    from cnnlab.backend import tf
    from cnnlab.model import outputs_logits

    tf_ = tf()
    logits = outputs_logits(model)

    def probabilities(x):
        scores = model(tf_.cast(x, "float32"), training=False)  # augmentation off, BatchNorm frozen
        scores = tf_.cast(scores, "float32")  # mixed-precision models may end in float16
        return tf_.nn.softmax(scores) if logits else scores

    return probabilities


def input_spec(image_shape, dtype="uint8"):
    from cnnlab.backend import tf

    return tf().TensorSpec((None, *image_shape), dtype, name=INPUT_NAME)


def metadata(source: Source, fmt: str, quantize: str) -> dict:
    """The JSON written beside every artifact (and inside it where the format has room)."""
    from cnnlab import __version__

    h, w, c = source.image_shape
    return {
        "format": fmt,
        "quantize": quantize,
        "input": {"name": INPUT_NAME, "dtype": "uint8", "shape": [None, h, w, c],
                  "meaning": "raw pixels 0..255, no scaling (the model rescales inside)"},  # fmt: skip
        "output": {"name": OUTPUT_NAME, "dtype": "float32", "shape": [None, len(source.class_names)],
                   "meaning": "softmax probabilities, one per class in class_names order"},  # fmt: skip
        "class_names": list(source.class_names),
        "source": source.origin,
        "cnnlab_version": __version__,
        **source.extra,
    }


def write_sidecars(out_dir: Path, meta: dict) -> None:
    """labels.txt (one class name a line, index order) and cnnlab.json beside the artifact."""
    runs.write_text(Path(out_dir) / LABELS_FILE, "".join(f"{name}\n" for name in meta["class_names"]))
    runs.write_json(Path(out_dir) / METADATA_FILE, meta)


def class_names_from(meta: bytes | None, labels: bytes | None) -> list[str] | None:
    """Class names from cnnlab.json's bytes (whole names, line breaks and all) or else
    labels.txt's (one a line, split at "\n" only: U+2028 is part of a name); None if neither reads."""
    try:
        names = json.loads(meta.decode("utf-8")).get("class_names") if meta else None
        if isinstance(names, list):
            return [str(n) for n in names]
    except (ValueError, AttributeError):
        pass
    try:
        return [line for line in labels.decode("utf-8").split("\n") if line] if labels else None
    except UnicodeDecodeError:
        return None


def read_class_names(folder: Path, n_classes: int) -> list[str]:
    """Class names from cnnlab.json or labels.txt in ``folder``; numbers when neither is there."""
    labels, meta = Path(folder) / LABELS_FILE, Path(folder) / METADATA_FILE
    names = class_names_from(meta.read_bytes() if meta.is_file() else None,
                             labels.read_bytes() if labels.is_file() else None)  # fmt: skip
    if not names or len(names) != n_classes:
        return [str(i) for i in range(n_classes)]
    return names


def metadata_from_dir(out_dir: Path) -> dict:
    """The cnnlab.json the exporter wrote into ``out_dir`` (writers embed it)."""
    path = Path(out_dir) / METADATA_FILE
    return json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
