"""Shell completion of option values and run directories (Click's shell_complete).

    eval "$(_CNNLAB_COMPLETE=bash_source cnnlab)"     # in ~/.bashrc  (zsh_source, fish_source too)

Each callback answers fast and never imports TensorFlow: the names come from
registries that are plain Python, and run directories from a glob.
"""

from __future__ import annotations

from pathlib import Path

from click.shell_completion import CompletionItem


def complete_runs(ctx, param, incomplete: str) -> list[CompletionItem]:
    """Run directories under --output-dir (default outputs/) that hold a model; falls
    back to the shell's file completion for .keras files and other paths."""
    output_dir = Path((ctx.params or {}).get("output_dir") or "outputs")
    found = sorted(str(p.parent) for p in output_dir.glob("*/*/model.keras")) if output_dir.is_dir() else []
    matches = [CompletionItem(run) for run in found if run.startswith(incomplete)]
    return matches or [CompletionItem(incomplete, type="file")]


def choices(names) -> callable:
    """A callback completing from ``names()`` (called lazily, at completion time)."""

    def complete(ctx, param, incomplete: str) -> list[CompletionItem]:
        done, _, last = incomplete.rpartition(",")  # --kind a,b: complete the last item
        prefix = f"{done}," if done else ""
        return [CompletionItem(prefix + name) for name in names() if name.startswith(last)]

    return complete


def backbone_names() -> list[str]:
    from cnnlab.backbones import REGISTRY

    return list(REGISTRY)


def kind_names() -> list[str]:
    from cnnlab.visualize_run import KINDS

    return list(KINDS)
