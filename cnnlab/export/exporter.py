"""export_run: write, verify, then keep each requested artifact.

Per format: the artifact and its labels.txt / cnnlab.json are built in a hidden
folder beside the destination, loaded back in the format's own runtime, compared with
the Keras model on test images, and only then renamed into place. A failure at any
step leaves the destination as it was."""

from __future__ import annotations

import json
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

from cnnlab import runs
from cnnlab.errors import ConfigError, RunError
from cnnlab.inspect.evaluate import predict_probabilities, run_dataset

VERIFY_FILE = runs.RunDir.VERIFY  # beside the format folders: export/verify.json in a run


@dataclass
class ExportResult:
    name: str  # the folder under the export root: tflite, tflite-int8, ...
    format: str
    quantize: str
    path: Path  # the artifact: a file, or the SavedModel directory
    size_bytes: int
    verification: dict  # also in <export root>/verify.json under ``name``


def export_run(loaded, formats, quantize: str = "none", output: Path | None = None, *, representative: int = 300,
               verify_images: int = 300, report: Callable[[str], None] | None = None) -> list[ExportResult]:  # fmt: skip
    """Export ``loaded`` (a cnnlab.runs.LoadedRun) in each of ``formats``; default
    destination RUN/export/<format>[-<quantize>]/. Returns one ExportResult per format."""
    from cnnlab.export.deps import require
    from cnnlab.export.formats import FORMATS, check_quantize, resolve_formats

    names = resolve_formats(formats)
    check_quantize(names, quantize)
    if verify_images < 1:
        raise ConfigError(f"--verify-images must be at least 1, got {verify_images}")
    if quantize == "int8" and representative < 1:
        raise ConfigError(f"--representative must be at least 1 for int8, got {representative}")
    for name in names:  # every missing package before any work
        for module, purpose in FORMATS[name].REQUIRES:
            require(module, purpose)
    if output is None:
        if loaded.run_dir is None:
            raise ConfigError("a .keras file outside a run directory has no default export folder; pass --output PATH")
        output = runs.RunDir(loaded.run_dir).export_dir
    root = Path(output)
    runs.check_writable(root)
    verify_file = root / VERIFY_FILE
    if verify_file.exists() and not verify_file.is_file():  # checked before minutes of work, not after
        raise RunError(f"{verify_file} is a folder, not a file; move it away (cnnlab export writes its verification "
                       "results there) or pass another --output")  # fmt: skip
    say = report or (lambda line: None)

    say("reading the run's data ...")
    source, x_test, y_test = _prepare(loaded, quantize, representative)
    x_verify, y_verify = x_test[:verify_images], y_test[:verify_images]
    say(f"Keras predictions on {len(y_verify)} test images, the reference every export must match ...")
    reference = predict_probabilities(source.model, x_verify)  # (N, classes) float64
    trained = _trained_precision(loaded.model, source, reference, x_verify, say)
    keras_test = {}  # full-test-set Keras accuracy, computed once for quantized exports
    results = []
    for name in names:
        say(f"exporting {name}" + (f" ({quantize})" if quantize != "none" else "") + " ...")
        try:
            result = _export_one(FORMATS[name], source, quantize, root, x_verify, y_verify, reference,
                                 (x_test, y_test, keras_test), say)  # fmt: skip
            result.verification.update(trained)
            results.append(result)
            _merge_verify(verify_file, result.name, result.verification)
        except Exception as exc:  # noqa: BLE001  TensorFlow reports a full disk as its own error classes
            problem = _write_problem(exc)
            if problem is None:
                raise
            raise RunError(f"cannot write the {name} export under {root} ({problem}); the previous export, if any, "
                           "is kept; free some space or pass another --output") from None  # fmt: skip
    if results and loaded.run_dir is not None:  # a tracked run (config track:) gets its exports too
        from cnnlab.track import log_files

        log_files(loaded.run_dir, [root / r.name for r in results] + [verify_file], folder="export")
    return results


def _write_problem(exc: BaseException) -> str | None:
    """'No space left on device' and the like for a failed write (an OSError, or TensorFlow's
    error for the same), None for anything else."""
    import errno

    if isinstance(exc, OSError) and exc.errno in (errno.ENOSPC, errno.EDQUOT, errno.EFBIG, errno.EROFS, errno.EACCES,
                                                  errno.EIO):  # fmt: skip
        return exc.strerror or os.strerror(exc.errno)
    text = str(exc)
    for marker in ("No space left on device", "Disk quota exceeded", "File too large", "Read-only file system"):
        if marker in text:
            return marker
    return None


def _prepare(loaded, quantize: str, representative: int):
    """Source (model + facts) with representative training images for int8, and the run's test split.
    A model trained in mixed precision is exported as its float32 copy (cnnlab.export.float32_copy)."""
    from cnnlab.data.photos import reference_background
    from cnnlab.export.float32_copy import float32_copy, mixed_policy
    from cnnlab.export.graph import Source

    h, w, c = (int(d) for d in loaded.model.input_shape[1:])
    data = run_dataset(loaded, fix="export from the run directory that trained this model")
    rep = data.x_train[:representative] if quantize == "int8" else None  # already shuffled with the run's seed
    origin = str(loaded.run_dir) if loaded.run_dir is not None else "a .keras file"
    extra = {"representative_images": len(rep)} if rep is not None else {}
    extra["background"] = round(reference_background(data.x_train), 1)  # predict compares a photo's with it
    policy = mixed_policy(loaded.model)
    if policy is not None:
        extra["trained_precision"] = policy  # the artifact computes in float32, as its copy does
    source = Source(float32_copy(loaded.model), list(loaded.class_names), (h, w, c), origin, rep, extra=extra)
    return source, data.x_test, data.y_test


def _trained_precision(trained, source, reference, x_verify, say: Callable[[str], None]) -> dict:
    """For a float32 copy: how often it picks the class the mixed-precision model picks
    (16-bit arithmetic rounds differently, so near-ties may flip); {} for a float32 model."""
    policy = source.extra.get("trained_precision")
    if policy is None:
        return {}
    agreement = float((predict_probabilities(trained, x_verify).argmax(1) == reference.argmax(1)).mean())
    say(f"the model computes in {policy}: exporting a float32 copy with its weights (the trained model's class "
        f"on {agreement:.2%} of {len(x_verify)} test images); every format is verified against the copy")  # fmt: skip
    return {"trained_precision": policy, "trained_top1_agreement": agreement}


def _export_one(module, source, quantize, root: Path, x_verify, y_verify, reference, test,
                say: Callable[[str], None] = lambda line: None) -> ExportResult:  # fmt: skip
    from cnnlab.export.formats import artifact_dir_name
    from cnnlab.export.graph import metadata, write_sidecars
    from cnnlab.export.verify import compare

    name = artifact_dir_name(module.NAME, quantize)
    root.mkdir(parents=True, exist_ok=True)
    staging = Path(tempfile.mkdtemp(dir=root, prefix=f".{name}."))
    umask = os.umask(0)
    os.umask(umask)
    os.chmod(staging, 0o777 & ~umask)  # mkdtemp's 0700 would outlive the rename
    try:
        write_sidecars(staging, metadata(source, module.NAME, quantize))
        artifact = module.write(source, staging, quantize)
        say(f"  verifying {name} in its own runtime on {len(y_verify)} test images ...")
        loaded_artifact = module.load(artifact, unsafe=True)  # the graph just written here
        verification = compare(reference, loaded_artifact.predict(x_verify), y_verify, quantize)
        if verification["passed"] and quantize != "none":
            say(f"  {name}: accuracy on all {len(test[1])} test images ...")
            verification.update(_test_accuracy(loaded_artifact, source.model, test))
        if not verification["passed"]:
            hint = ("this is a cnnlab bug, please report it" if quantize == "none"
                    else "try a milder --quantize or a larger --representative")  # fmt: skip
            raise RunError(f"the {name} export does not predict what the model predicts on {len(y_verify)} test images "
                           f"({verification['problem']}); nothing was written; {hint}")  # fmt: skip
        final = root / name
        _replace_dir(staging, final)
        path = final / artifact.relative_to(staging)
        size = _size(path)
        verification.update({"artifact": str(path), "size_bytes": size})
        return ExportResult(name, module.NAME, quantize, path, size, verification)
    finally:
        shutil.rmtree(staging, ignore_errors=True)


def _test_accuracy(artifact, model, test) -> dict:
    """Quantized artifacts: accuracy on the whole test split, beside the float Keras model's."""
    x_test, y_test, keras_cache = test
    if "accuracy" not in keras_cache:
        keras_cache["accuracy"] = float((predict_probabilities(model, x_test).argmax(1) == y_test).mean())
    accuracy = float((artifact.predict(x_test).argmax(1) == y_test).mean())
    return {"test_images": int(len(y_test)), "test_accuracy": accuracy, "keras_test_accuracy": keras_cache["accuracy"]}


def _replace_dir(new: Path, final: Path) -> None:
    """Rename the verified folder into place; an older export of the same name goes after."""
    old = None
    if final.exists():
        old = Path(tempfile.mkdtemp(dir=final.parent, prefix=f".{final.name}.old."))
        os.replace(final, old / final.name)
    os.replace(new, final)
    if old is not None:
        shutil.rmtree(old, ignore_errors=True)


def _size(path: Path) -> int:
    if path.is_file():
        return path.stat().st_size
    return sum(p.stat().st_size for p in path.rglob("*") if p.is_file())


def _merge_verify(path: Path, name: str, verification: dict) -> None:
    try:
        data = json.loads(path.read_text(encoding="utf-8")) if path.is_file() else {}
        data = data if isinstance(data, dict) else {}
    except ValueError:  # a corrupt file from elsewhere: start again
        data = {}
    data[name] = verification
    runs.write_json(path, data)
