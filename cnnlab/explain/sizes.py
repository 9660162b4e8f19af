"""Shapes without numbers: how big the output is and how often each input pixel is read."""

from __future__ import annotations

import numpy as np

from cnnlab.explain.conv import Pads, output_size


def usage_counts(size: tuple[int, int], kernel: tuple[int, int], stride: int, pads: Pads) -> np.ndarray:
    """(H + pads, W + pads) counts: how many windows cover each cell of the padded input."""
    ph, pw = size[0] + pads.top + pads.bottom, size[1] + pads.left + pads.right
    oh = output_size(size[0], pads.top, pads.bottom, kernel[0], stride)
    ow = output_size(size[1], pads.left, pads.right, kernel[1], stride)
    counts = np.zeros((ph, pw), dtype=int)
    for i in range(oh):
        for j in range(ow):
            counts[i * stride: i * stride + kernel[0], j * stride: j * stride + kernel[1]] += 1
    return counts


def parameter_text(kernel: tuple[int, int], channels: int, filters: int) -> str:
    fh, fw = kernel
    weights = fh * fw * channels * filters
    return (f"parameters: FH*FW*C*filters + filters (one bias each) = {fh}*{fw}*{channels}*{filters} + {filters} "
            f"= {weights + filters:,}  (the same for any image size: the filter slides, it does not grow)")


def dense_text(size: tuple[int, int], channels: int, units: int) -> str:
    inputs = size[0] * size[1] * channels
    return (f"for comparison, a Dense layer of {units} unit(s) on the flattened {size[0]}x{size[1]}x{channels} "
            f"input needs {size[0]}*{size[1]}*{channels}*{units} + {units} = {inputs * units + units:,} parameters")
