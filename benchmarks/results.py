"""benchmarks/RESULTS.md is generated: each benchmark owns one section of it, between
two marker comments, and rewrites only that section. Never edit the file by hand."""

from __future__ import annotations

import os
import platform
from pathlib import Path

RESULTS = Path(__file__).resolve().parent / "RESULTS.md"
TITLE = "# Benchmark results\n\nEach section is written by the benchmark it names; do not edit by hand.\n"


def write_section(name: str, text: str, path: Path = RESULTS) -> None:
    """Replace (or append) the section `name` of RESULTS.md with `text`."""
    start, end = f"<!-- {name}: start -->", f"<!-- {name}: end -->"
    block = f"{start}\n{text.strip()}\n{end}"
    current = path.read_text() if path.exists() else TITLE
    if start in current and end in current:
        before, rest = current.split(start, 1)
        updated = before + block + rest.split(end, 1)[1]
    else:
        updated = current.rstrip() + "\n\n" + block + "\n"
    tmp = path.with_suffix(".tmp")
    tmp.write_text(updated)
    tmp.replace(path)


def cpu_name() -> str:
    try:
        lines = Path("/proc/cpuinfo").read_text().splitlines()
        return next(line.split(":", 1)[1].strip() for line in lines if line.startswith("model name"))
    except (OSError, StopIteration):
        return platform.processor() or "unknown CPU"


def cpu_flags_summary() -> str:
    """The vector extensions that decide TensorFlow's CPU speed."""
    from cnnlab.backend import cpu_flags

    flags = cpu_flags()
    if flags is None:
        return "flags unknown"
    wanted = ("avx2", "fma", "avx512f", "avx512_vnni", "avx512_bf16", "amx_bf16")
    have = [f for f in wanted if f in flags]
    return ", ".join(have) if have else "no AVX2"


def machine() -> str:
    # ONEDNN_MAX_CPU_ISA=AVX2 on a newer CPU stands in for a learner's AVX2 laptop: say so.
    isa = os.environ.get("ONEDNN_MAX_CPU_ISA")
    return (f"{platform.system()} {platform.machine()}, {cpu_name()} ({cpu_flags_summary()}), "
            f"{os.cpu_count()} cores{f', oneDNN limited to {isa} (ONEDNN_MAX_CPU_ISA)' if isa else ''}; "
            f"Python {platform.python_version()}")  # fmt: skip
