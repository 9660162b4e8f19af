"""SavedModel (TF Serving, tf.saved_model.load): one ``serving_default`` signature
image uint8 (None, H, W, C) -> probabilities float32 (None, classes); labels.txt and
cnnlab.json are also saved as SavedModel assets."""

from __future__ import annotations

import shutil
from pathlib import Path

from cnnlab.errors import ModelError
from cnnlab.export.artifact import Artifact, check_image_shape
from cnnlab.export.graph import INPUT_NAME, LABELS_FILE, METADATA_FILE, OUTPUT_NAME, input_spec, probabilities_fn

NAME = "savedmodel"
ARTIFACT = "saved_model"  # a directory
QUANTIZE = ("none",)  # quantized graphs are TFLite's (and ONNX Runtime's) job
REQUIRES: tuple[tuple[str, str], ...] = ()  # TensorFlow only


def save_inference_graph(source, path: Path, input_dtype: str = "uint8", assets: list[Path] = ()) -> Path:
    """Write the inference graph as a SavedModel at ``path`` (also TFLite's starting point).
    ``assets`` (labels.txt, cnnlab.json) are copied into its assets/ folder, and the class
    names are also a second signature, ``class_names`` (no input -> string tensor)."""
    from cnnlab.backend import keras, tf

    fn = probabilities_fn(source.model)
    names = list(source.class_names)
    archive = keras().export.ExportArchive()
    archive.track(source.model)
    archive.add_endpoint("serving_default", lambda image: {OUTPUT_NAME: fn(image)},
                         input_signature=[input_spec(source.image_shape, input_dtype)])  # fmt: skip
    if assets:  # only in the SavedModel format itself, not in TFLite's intermediate graph
        archive.add_endpoint("class_names", lambda: {"class_names": tf().constant(names)}, input_signature=[])
    archive.write_out(str(path), verbose=False)
    for asset in assets:  # assets/ is where a SavedModel keeps auxiliary files such as vocabularies
        (path / "assets").mkdir(exist_ok=True)
        shutil.copyfile(asset, path / "assets" / asset.name)
    return path


def write(source, out_dir: Path, quantize: str) -> Path:
    assets = [out_dir / LABELS_FILE, out_dir / METADATA_FILE]  # written by the exporter before
    return save_inference_graph(source, out_dir / ARTIFACT, assets=[a for a in assets if a.is_file()])


def is_artifact(path: Path) -> bool:
    return path.is_dir() and (path / "saved_model.pb").is_file()


def load(path: Path, unsafe: bool = False) -> Artifact:
    from cnnlab.backend import tf
    from cnnlab.export.graph import read_class_names
    from cnnlab.export.graph_ops import check_savedmodel_ops

    path = Path(path)
    check_savedmodel_ops(path, unsafe)  # before TensorFlow runs anything of it
    try:
        loaded = tf().saved_model.load(str(path))
        serve = loaded.signatures["serving_default"]
    except Exception as exc:
        raise ModelError(f"cannot load SavedModel {path}: {_first_line(exc)}; export it again with cnnlab export") from None
    spec = serve.structured_input_signature[1].get(INPUT_NAME)
    if spec is None or spec.shape.rank != 4:
        raise ModelError(f"SavedModel {path} has no {INPUT_NAME!r} input of shape (None, H, W, C); "
                         "pass a SavedModel written by cnnlab export")  # fmt: skip
    h, w, c = check_image_shape(path, spec.shape.as_list()[1:])
    n_classes = int(serve.structured_outputs[OUTPUT_NAME].shape[-1])
    folder = path / "assets" if (path / "assets" / LABELS_FILE).is_file() else path.parent

    def run_batch(images):
        return serve(**{INPUT_NAME: tf().constant(images, dtype=spec.dtype)})[OUTPUT_NAME].numpy()

    names = read_class_names(folder, n_classes)
    if "class_names" in loaded.signatures:  # the copy inside the SavedModel travels with it
        inside = [n.decode("utf-8") for n in loaded.signatures["class_names"]()["class_names"].numpy()]
        names = inside if len(inside) == n_classes else names
    return Artifact(path, NAME, names, (h, w, c), run_batch)


def _first_line(exc: Exception) -> str:
    text = str(exc).strip()
    return text.splitlines()[0][:200] if text else type(exc).__name__
