"""Loading a run's model (TensorFlow starts here, and only here of cnnlab.runs)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path

from cnnlab.errors import ModelError, first_line
from cnnlab.runs.find import resolve_run
from cnnlab.runs.layout import DEFAULT_OUTPUT_DIR
from cnnlab.runs.rundir import RunDir


@dataclass
class LoadedRun:
    run_dir: Path | None
    model: object
    class_names: list[str]
    config: object | None  # cnnlab.config.Config when the run directory is known
    cache: dict = field(default_factory=dict, repr=False)  # e.g. its dataset, read once (cnnlab.inspect.evaluate)


def load_run(arg: str | None, output_dir: Path = DEFAULT_OUTPUT_DIR, *, unsafe: bool = False) -> LoadedRun:
    run_dir, model_path = resolve_run(arg, output_dir)
    model = load_model(model_path, unsafe=unsafe)
    return run_of(run_dir, model)


def run_of(run_dir: Path | None, model) -> LoadedRun:
    """A LoadedRun for a model already loaded: class names and config from its run."""
    n_classes = int(model.output.shape[-1])
    class_names = [str(i) for i in range(n_classes)]
    config = None
    if run_dir is not None:
        rd = RunDir(run_dir)
        class_names = rd.read_classes(n_classes)
        from cnnlab.config import load_config  # runs -> config: only when a run is loaded

        config = load_config(rd.config)
    return LoadedRun(Path(run_dir) if run_dir is not None else None, model, class_names, config)


def _is_complete_zip(path: Path) -> bool:
    """A .keras file is a zip archive; a truncated one has no central directory at its end.
    (Not testzip(): reading every byte of a 500 MB VGG model is too slow for a check.)"""
    import zipfile

    try:
        with zipfile.ZipFile(path) as archive:
            return bool(archive.namelist())
    except (zipfile.BadZipFile, OSError, EOFError, ValueError, NotImplementedError):
        return False


def load_model(path: Path, *, unsafe: bool = False, unsafe_fix: str = "pass --unsafe only if you trust this file"):
    """Load a .keras file in Keras safe mode (no arbitrary code from Lambda layers).
    ``unsafe_fix``: the advice when it is refused (commands without --unsafe give their own)."""
    import cnnlab.layers  # noqa: F401  registers cnnlab's own layers before Keras reads the file
    from cnnlab.backend import keras

    path = Path(path)
    damaged = ModelError(
        f"{path} is damaged (not a complete .keras archive: truncated or overwritten); "
        "train again, or resume the run if it was interrupted (cnnlab train --resume)"
    )
    if path.is_file() and not _is_complete_zip(path):  # Keras would say "File not found"
        raise damaged
    try:
        return keras().models.load_model(path, safe_mode=not unsafe, compile=False)
    except Exception as exc:
        text = str(exc)
        if "safe_mode" in text or "Lambda" in text:
            raise ModelError(
                f"{path} contains a Lambda layer (arbitrary Python code), refused in safe mode; {unsafe_fix}"
            ) from None
        if "Bad CRC" in text or "BadZipFile" in type(exc).__name__:  # a byte changed inside the archive
            raise damaged from None
        raise ModelError(f"cannot load model {path}: {first_line(exc)}") from None
