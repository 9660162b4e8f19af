"""The registry of ``cnnlab visualize`` kinds: name -> Kind (what it applies to,
whether it needs an image, how it draws). ``--kind`` choices, the command's help text
and the "what applies to this layer" errors all come from ``KINDS``.

A new kind is one module here that defines ``KIND = Kind(...)`` plus one line in the
list below; the order of that list is the order kinds are drawn and listed.
"""

from __future__ import annotations

from cnnlab.errors import ModelError, did_you_mean
from cnnlab.inspect.kinds import feature_maps, filters, gradcam, histogram, pairs, patterns, stats, strip
from cnnlab.inspect.kinds.base import MAPS, ChosenImage, DrawContext, Kind, Written
from cnnlab.inspect.layer_paths import LayerRef, has_maps, output_shape
from cnnlab.model.summary import shape_text

KINDS: dict[str, Kind] = {
    kind.name: kind
    for kind in (
        filters.KIND,
        histogram.KIND,
        feature_maps.KIND,
        stats.KIND,
        gradcam.KIND,
        patterns.KIND,
        strip.KIND,
        pairs.KIND,
    )
}

__all__ = ["KINDS", "ChosenImage", "DrawContext", "Kind", "Written", "applicable_kinds", "check_kinds", "default_kinds", "parse_kinds"]


def help_text() -> str:
    """The kinds' part of `cnnlab visualize --help`."""
    width = max(map(len, KINDS)) + 2
    return "\n".join(f"  {name:<{width}}{kind.help}" + ("" if kind.default else " (only when asked for)")
                     for name, kind in KINDS.items())  # fmt: skip


def applicable_kinds(layer) -> list[str]:
    return [name for name, kind in KINDS.items() if kind.applies(layer)]


def default_kinds(layer) -> list[str]:
    """What --kind left out draws: every applicable kind that is not opt-in."""
    return [name for name in applicable_kinds(layer) if KINDS[name].default]


def parse_kinds(kinds) -> list[str]:
    """--kind values (repeatable, or comma-separated) -> validated list in registry order."""
    wanted = [k.strip() for item in kinds or () for k in str(item).split(",") if k.strip()]
    for k in wanted:
        if k not in KINDS:
            raise ModelError(f"unknown --kind {k!r}{did_you_mean(k, KINDS)}; choose from {', '.join(KINDS)}")
    return [k for k in KINDS if k in wanted]


def check_kinds(ref: LayerRef, requested: list[str]) -> None:
    """An explicit --kind that cannot be drawn for this layer is an error naming what can."""
    applicable = applicable_kinds(ref.layer)
    missing = [k for k in requested if k not in applicable]
    if not missing:
        return
    # The first unmet requirement in registry order says why: a 4-D output first, since
    # a layer without one cannot have any of the map kinds.
    needs_maps = any(KINDS[k].requirement == MAPS for k in missing) and not has_maps(ref.layer)
    if needs_maps:
        why = f"outputs {shape_text(output_shape(ref.layer), 'unknown')}, not a 4-D feature map"
    else:
        requirement = KINDS[missing[0]].requirement
        why = f"has no {requirement}"
    what = ", ".join(missing)
    if applicable:
        fix = f"only {', '.join(applicable)} applies to it" if len(applicable) == 1 else f"kinds that apply: {', '.join(applicable)}"
    else:
        fix = "nothing can be drawn for it; pick a conv or pooling layer"
    raise ModelError(f"layer {ref.path!r} ({ref.class_name}) {why}, so {what} cannot be drawn; {fix}")
