"""Shapes without numbers: how big the output is and how often each input pixel is read."""

from __future__ import annotations

import numpy as np

from cnnlab.explain.conv import Pads, output_size


def _axis_counts(size: int, before: int, after: int, kernel: int, stride: int) -> np.ndarray:
    """(size + before + after,) how many window positions along one axis cover each index."""
    counts = np.zeros(size + before + after, dtype=np.int64)
    for start in range(0, output_size(size, before, after, kernel, stride) * stride, stride):
        counts[start: start + kernel] += 1
    return counts


def usage_counts(size: tuple[int, int], kernel: tuple[int, int], stride: int, pads: Pads) -> np.ndarray:
    """(H + pads, W + pads) counts: how many windows cover each cell of the padded input.
    Windows are products of a row range and a column range, so the counts are an outer
    product of the two axes' counts (fast even for a 1920x1080 photo)."""
    rows = _axis_counts(size[0], pads.top, pads.bottom, kernel[0], stride)
    cols = _axis_counts(size[1], pads.left, pads.right, kernel[1], stride)
    return np.outer(rows, cols)


def parameter_text(kernel: tuple[int, int], channels: int, filters: int) -> str:
    fh, fw = kernel
    weights = fh * fw * channels * filters
    return (f"parameters: FH*FW*C*filters + filters (one bias each) = {fh}*{fw}*{channels}*{filters} + {filters} "
            f"= {weights + filters:,}  (the same for any image size: the filter slides, it does not grow)")


def dense_text(size: tuple[int, int], channels: int, units: int) -> str:
    inputs = size[0] * size[1] * channels
    return (f"for comparison, a Dense layer of {units} unit(s) on the flattened {size[0]}x{size[1]}x{channels} "
            f"input needs {size[0]}*{size[1]}*{channels}*{units} + {units} = {inputs * units + units:,} parameters")
