"""FORMATS: export format name -> its writer module. A new format is one module with
NAME, ARTIFACT, QUANTIZE, REQUIRES, write(source, out_dir, quantize) -> path,
is_artifact(path) and load(path) -> Artifact, plus one line here."""

from __future__ import annotations

from cnnlab.errors import ConfigError
from cnnlab.export import to_onnx, to_savedmodel, to_tflite

FORMATS = {module.NAME: module for module in (to_savedmodel, to_tflite, to_onnx)}
QUANTIZE_MODES = ("none", "dynamic", "float16", "int8")


def resolve_formats(names) -> list[str]:
    """--format values (repeatable, comma-separated, or 'all') -> format names in registry order."""
    wanted = [n.strip().lower() for name in names for n in str(name).split(",") if n.strip()]
    if not wanted:
        raise ConfigError(f"give --format: one of {', '.join(FORMATS)}, or all")
    if "all" in wanted:
        return list(FORMATS)
    unknown = [n for n in wanted if n not in FORMATS]
    if unknown:
        raise ConfigError(f"unknown export format {unknown[0]!r}; choose from {', '.join(FORMATS)}, or all")
    return [n for n in FORMATS if n in wanted]


def check_quantize(formats: list[str], quantize: str) -> None:
    if quantize not in QUANTIZE_MODES:
        raise ConfigError(f"unknown --quantize {quantize!r}; choose from {', '.join(QUANTIZE_MODES)}")
    refused = [f for f in formats if quantize not in FORMATS[f].QUANTIZE]
    if refused:
        able = [f for f, module in FORMATS.items() if quantize in module.QUANTIZE]
        allowed = ", ".join(FORMATS[refused[0]].QUANTIZE)
        raise ConfigError(f"--quantize {quantize} is not available for {refused[0]} (it takes {allowed}); "
                          f"--quantize {quantize} works with --format {', '.join(able)}")  # fmt: skip


def artifact_dir_name(fmt: str, quantize: str) -> str:
    """RUN/export/<this>/: tflite, tflite-int8, ... so float and quantized exports sit side by side."""
    return fmt if quantize == "none" else f"{fmt}-{quantize}"
