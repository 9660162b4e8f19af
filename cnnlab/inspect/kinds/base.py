"""What every visualization kind shares: its registry entry (``Kind``), what a draw
function gets (``DrawContext``) and returns (``Written``)."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable

import numpy as np

from cnnlab.inspect.layer_paths import LayerRef


@dataclass
class Written:
    path: Path
    note: str = ""


@dataclass
class ChosenImage:
    image: np.ndarray  # (H, W, C) uint8
    caption: str
    label: int | None  # true class when known
    sample: np.ndarray = field(repr=False)  # (N, H, W, C) images for stats
    sample_text: str = ""
    tag: str = ""  # in the file names of pictures of this image: "" (test #0, the default), "test4", "photo-shoe"


@dataclass
class DrawContext:
    """Everything a kind may draw from, for one layer."""

    ref: LayerRef
    folder: Path  # RUN/plots/visualize/<layer path>/
    loaded: object  # cnnlab.runs.LoadedRun
    max_maps: int
    probe: object | None = None  # cnnlab.inspect.probes.Probe, built once per layer when a kind needs maps
    chosen: ChosenImage | None = None  # when a kind needs an image
    initial: object | None = None  # InitialWeights of the run (histogram, filters --before)
    options: dict = field(default_factory=dict)  # drawing switches: shared_scale, before

    def image_file(self, name: str) -> Path:
        """Where a picture of the chosen image goes: ``name`` with the image's tag, so that
        pictures of other images (--index, --image) sit beside it instead of replacing it."""
        stem, dot, suffix = name.partition(".")
        tag = self.chosen.tag if self.chosen is not None else ""
        return self.folder / (f"{stem}-{tag}{dot}{suffix}" if tag else name)

    def class_name(self, i: int) -> str:
        names = self.loaded.class_names
        return names[i] if 0 <= i < len(names) else str(i)


@dataclass(frozen=True)
class Kind:
    """One registered visualization kind."""

    name: str  # the --kind value, e.g. "feature-maps"
    help: str  # one line for `cnnlab visualize --help`
    applies: Callable[[object], bool]  # layer -> can this kind be drawn for it?
    requirement: str  # what `applies` asks of a layer, for "has no ...": "convolution kernel"
    draw: Callable[[DrawContext], list[Written]]
    needs_image: bool = False  # draws the chosen --image / --index
    needs_probe: bool = False  # needs activations (a Probe of the layer)
    default: bool = True  # drawn when --kind is not given (opt-in kinds say False)


MAPS = "4-D feature map"  # the requirement of kinds that draw a layer's output
