"""Convolution (cross-correlation, as Keras computes it) worked out cell by cell.

Shapes: input x (H, W, C), one filter k (FH, FW, C), output map (OH, OW). Padding is
'valid' (none), 'same' (Keras's rule: ceil(H/S) outputs, the odd extra zero row/column
goes to the bottom/right) or an explicit N zeros on every side (Keras ZeroPadding2D(N)
then a 'valid' Conv2D)."""

from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from cnnlab.errors import ConfigError

PADDING_HELP = "valid (no padding), same (output = ceil(input/stride)) or a number N of zero rings"


@dataclass(frozen=True)
class Pads:
    top: int
    bottom: int
    left: int
    right: int
    mode: str  # 'valid', 'same' or 'N'


def parse_padding(text: str | int) -> str | int:
    text = str(text).strip().lower()
    if text in ("valid", "same"):
        return text
    try:
        n = int(text)
    except ValueError:
        raise ConfigError(f"--padding {text!r} is not understood; use {PADDING_HELP}") from None
    if n < 0:
        raise ConfigError(f"--padding {n} is negative; use 0 or more rings of zeros, or valid/same")
    return n


def same_pads(size: int, kernel: int, stride: int) -> tuple[int, int]:
    """Keras/TensorFlow 'same': ceil(size/stride) outputs; top gets the smaller half."""
    out = math.ceil(size / stride)
    total = max((out - 1) * stride + kernel - size, 0)
    return total // 2, total - total // 2


def resolve_pads(padding: str | int, size: tuple[int, int], kernel: tuple[int, int], stride: int) -> Pads:
    if padding == "valid":
        return Pads(0, 0, 0, 0, "valid")
    if padding == "same":
        (t, b), (l, r) = same_pads(size[0], kernel[0], stride), same_pads(size[1], kernel[1], stride)
        return Pads(t, b, l, r, "same")
    n = int(padding)
    return Pads(n, n, n, n, str(n))


def check_stride(stride: int) -> None:
    if stride < 1:
        raise ConfigError(f"--stride {stride}: the window must move at least 1 pixel; use --stride 1 or more")


def output_size(size: int, pad_before: int, pad_after: int, kernel: int, stride: int) -> int:
    return (size + pad_before + pad_after - kernel) // stride + 1


def check_fits(shape: tuple[int, int], pads: Pads, kernel: tuple[int, int], what: str = "filter") -> None:
    ph, pw = shape[0] + pads.top + pads.bottom, shape[1] + pads.left + pads.right
    if kernel[0] > ph or kernel[1] > pw:
        raise ConfigError(f"the {kernel[0]}x{kernel[1]} {what} is larger than the {ph}x{pw} padded input; "
                          "use a smaller filter, a bigger input or more --padding")


def size_rule(axis: str, size: int, pad_before: int, pad_after: int, kernel: int, stride: int) -> list[str]:
    """OH = (H + 2P − FH)/S + 1 with the numbers filled in (and why, when it rounds down)."""
    big, f = ("H", "FH") if axis == "height" else ("W", "FW")
    out_name = "O" + big
    top = size + pad_before + pad_after - kernel
    out = top // stride + 1
    if pad_before == pad_after:
        formula = f"{out_name} = ({big} + 2P - {f})/S + 1"
        numbers = f"({size} + 2*{pad_before} - {kernel})/{stride} + 1"
    else:
        formula = f"{out_name} = ({big} + P_before + P_after - {f})/S + 1"
        numbers = f"({size} + {pad_before} + {pad_after} - {kernel})/{stride} + 1"
    lines = [f"  {axis}: {formula} = {numbers}"]
    if top % stride:
        lines[0] += f" = floor({top}/{stride}) + 1 = {top // stride} + 1 = {out}"
        lines.append(f"    {top}/{stride} is not whole: the window stops early, the last {top % stride} "
                     f"{'row' if axis == 'height' else 'column'}(s) of the padded input are never read")
    else:
        lines[0] += f" = {top // stride} + 1 = {out}"
    return lines


def rule_text(shape: tuple[int, int], kernel: tuple[int, int], stride: int, pads: Pads) -> str:
    lines = ["output size (P = zeros added on each side, S = stride):"]
    lines += size_rule("height", shape[0], pads.top, pads.bottom, kernel[0], stride)
    lines += size_rule("width", shape[1], pads.left, pads.right, kernel[1], stride)
    if pads.mode == "same":
        lines.append(f"  'same' asks for ceil(input/stride) = {math.ceil(shape[0] / stride)}x"
                     f"{math.ceil(shape[1] / stride)} outputs, which needs {pads.top}+{pads.bottom} zero rows and "
                     f"{pads.left}+{pads.right} zero columns (Keras puts an odd extra one at the bottom/right)")
    return "\n".join(lines)


@dataclass
class ConvResult:
    x: np.ndarray  # (H, W, C) the input
    kernel: np.ndarray  # (FH, FW, C) the filter, already scaled
    stride: int
    pads: Pads
    bias: float
    padded: np.ndarray  # (H + top + bottom, W + left + right, C)
    channel_maps: np.ndarray  # (OH, OW, C): each channel's multiply-and-sum, before adding
    out: np.ndarray  # (OH, OW): sum over channels + bias (before ReLU)

    def window(self, i: int, j: int) -> tuple[slice, slice]:
        fh, fw = self.kernel.shape[:2]
        return slice(i * self.stride, i * self.stride + fh), slice(j * self.stride, j * self.stride + fw)

    def products(self, i: int, j: int) -> np.ndarray:
        """(FH, FW, C) element-wise products of output cell (i, j)'s window and the filter."""
        rows, cols = self.window(i, j)
        return self.padded[rows, cols, :] * self.kernel

    def is_padding(self, i: int, j: int) -> bool:
        h, w = self.x.shape[:2]
        return not (self.pads.top <= i < self.pads.top + h and self.pads.left <= j < self.pads.left + w)


def check_channels(x: np.ndarray, kernel: np.ndarray) -> None:
    if x.shape[-1] != kernel.shape[-1]:
        raise ConfigError(f"the input has {x.shape[-1]} channel(s) but the filter has {kernel.shape[-1]}; "
                          f"give the filter {x.shape[-1]} slices separated by '|' (one per input channel)")


def convolve(x: np.ndarray, kernel: np.ndarray, stride: int = 1, padding: str | int = "valid",
             bias: float = 0.0) -> ConvResult:
    """One filter over a (H, W, C) input: what keras.layers.Conv2D(1, kernel.shape[:2]) computes."""
    check_stride(stride)
    check_channels(x, kernel)
    pads = resolve_pads(padding, x.shape[:2], kernel.shape[:2], stride)
    check_fits(x.shape[:2], pads, kernel.shape[:2])
    padded = np.pad(x, ((pads.top, pads.bottom), (pads.left, pads.right), (0, 0)))
    oh = output_size(x.shape[0], pads.top, pads.bottom, kernel.shape[0], stride)
    ow = output_size(x.shape[1], pads.left, pads.right, kernel.shape[1], stride)
    result = ConvResult(x, kernel, stride, pads, bias, padded, np.zeros((oh, ow, x.shape[-1])), np.zeros((oh, ow)))
    for i in range(oh):
        for j in range(ow):
            result.channel_maps[i, j] = result.products(i, j).sum(axis=(0, 1))
    result.out[...] = result.channel_maps.sum(axis=-1) + bias
    return result


def relu(values: np.ndarray) -> np.ndarray:
    return np.maximum(values, 0.0)
