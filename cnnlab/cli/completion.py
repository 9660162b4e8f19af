"""Shell completion of option values and run directories (Click's shell_complete).

    eval "$(_CNNLAB_COMPLETE=bash_source cnnlab)"     # in ~/.bashrc  (zsh_source, fish_source too)

Names come from the registries themselves (so a new backbone or kind completes with no
change here) and run directories from a glob. Backbones and runs answer at once; the
visualize kinds' registry imports TensorFlow today, so --kind takes its start-up time.
"""

from __future__ import annotations

from pathlib import Path

from click.shell_completion import CompletionItem


def complete_runs(ctx, param, incomplete: str) -> list[CompletionItem]:
    """Run directories under --output-dir (default outputs/) that hold a model; falls
    back to the shell's file completion for .keras files and other paths."""
    from cnnlab.runs import find_runs

    output_dir = Path((ctx.params or {}).get("output_dir") or "outputs")
    found = sorted(str(p) for p in find_runs(output_dir, "model"))
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
    from cnnlab.config.backbones import REGISTRY

    return list(REGISTRY)


def kind_names() -> list[str]:
    from cnnlab.inspect.kinds import KINDS

    return list(KINDS)
