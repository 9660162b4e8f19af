"""Shell completion of option values and run directories (Click's shell_complete).

    eval "$(_CNNLAB_COMPLETE=bash_source cnnlab)"     # in ~/.bashrc  (zsh_source, fish_source too)

Candidates are shell words: a run folder named ``$(touch PWNED)`` must arrive on the
command line quoted, never as code. bash inserts what the script hands it as typed, so
its candidates are quoted here (``QuotingBash``); zsh's ``compadd`` and fish quote what
they insert themselves. A name no completion protocol can carry (a line break, a control
character: each candidate is one line) is not offered; the user can still type it.

Names come from the registries themselves (so a new backbone or kind completes with no
change here) and run directories from a glob. Backbones and runs answer at once; the
visualize kinds' registry imports TensorFlow today, so --kind takes its start-up time.
"""

from __future__ import annotations

import re
import shlex
from pathlib import Path

from click.shell_completion import BashComplete, CompletionItem, FishComplete, ZshComplete, add_completion_class

_CARRIED = re.compile(r"[^\x00-\x1f\x7f\u0085\u2028\u2029]*")  # one protocol line, no terminal controls


def shell_word(value: str) -> str:
    """``value`` as one POSIX shell word: unchanged when it is plain, else single-quoted."""
    return shlex.quote(value)


class _OneLineCandidates:
    def get_completions(self, args, incomplete):
        items = super().get_completions(args, incomplete)
        return [i for i in items if i.type != "plain" or _CARRIED.fullmatch(str(i.value))]


class QuotingBash(_OneLineCandidates, BashComplete):
    """bash's COMPREPLY takes the text as typed: quote it. Its script reads each line with
    ``read`` without -r, which eats one level of backslashes: double them."""

    def format_completion(self, item: CompletionItem) -> str:
        if item.type != "plain":
            return super().format_completion(item)
        return f"plain,{shell_word(str(item.value))}".replace("\\", "\\\\")


class OneLineZsh(_OneLineCandidates, ZshComplete):
    pass


class OneLineFish(_OneLineCandidates, FishComplete):
    pass


for _shell in (QuotingBash, OneLineZsh, OneLineFish):
    add_completion_class(_shell)  # replaces Click's class of the same name for this CLI


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
