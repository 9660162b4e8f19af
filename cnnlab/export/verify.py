"""Does an exported artifact predict what the Keras model predicts?

Compared on the same test images: the largest absolute difference of any class
probability, and how often the two pick the same top-1 class. Thresholds per
quantization mode (why each is what it is):

- none: the artifact runs the same float32 arithmetic in another kernel order, so
  probabilities may differ by rounding only (~1e-6); more than 1e-4 means a wrong
  graph. With every probability within 1e-4, top-1 can flip only where the two best
  classes are within 2e-4 of each other, so 99 % agreement leaves room for such ties
  and nothing else.
- float16: weights rounded to 11-bit mantissas (relative error ~5e-4 each), computed
  in float32: probabilities move by up to ~1e-2, near-ties flip: 98 %.
- dynamic: weights int8 per channel, activations quantized on the fly: a few tenths
  of a percent of images near a decision boundary flip on Fashion-MNIST: 97 %.
- int8: every tensor int8 (uint8 in/out), calibrated on a few hundred training
  images: probabilities move in steps of 1/256, up to ~1-2 % of images flip: 95 %.
  Accuracy on the whole test split is reported beside the float model's.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

FLOAT_TOLERANCE = 1e-4


@dataclass(frozen=True)
class Threshold:
    max_abs_diff: float | None  # None: reported, not enforced (quantized by design)
    top1_agreement: float


THRESHOLDS = {
    "none": Threshold(FLOAT_TOLERANCE, 0.99),
    "float16": Threshold(None, 0.98),
    "dynamic": Threshold(None, 0.97),
    "int8": Threshold(None, 0.95),
}


def compare(reference: np.ndarray, probs: np.ndarray, labels: np.ndarray, quantize: str) -> dict:
    """reference, probs: (N, classes) probabilities of Keras and of the artifact; labels: (N,)."""
    reference, probs = np.asarray(reference, np.float64), np.asarray(probs, np.float64)
    if probs.shape != reference.shape:
        return {"images": int(len(labels)), "passed": False,
                "problem": f"the artifact returned shape {probs.shape}, Keras {reference.shape}"}  # fmt: skip
    threshold = THRESHOLDS[quantize]
    diff = np.abs(reference - probs)
    max_abs = float(diff.max()) if diff.size else 0.0
    agreement = float((reference.argmax(1) == probs.argmax(1)).mean()) if len(probs) else 1.0
    problems = []
    if not np.all(np.isfinite(probs)):
        problems.append("the artifact returned NaN or infinite probabilities")
    if threshold.max_abs_diff is not None and not max_abs <= threshold.max_abs_diff:
        problems.append(f"max |difference| {max_abs:.2e} > {threshold.max_abs_diff:.0e}")
    if agreement < threshold.top1_agreement:
        problems.append(f"top-1 agreement {agreement:.2%} < {threshold.top1_agreement:.0%}")
    return {
        "images": int(len(labels)),
        "max_abs_diff": max_abs,
        "mean_abs_diff": float(diff.mean()) if diff.size else 0.0,
        "top1_agreement": agreement,
        "keras_accuracy": float((reference.argmax(1) == labels).mean()) if len(labels) else None,
        "accuracy": float((probs.argmax(1) == labels).mean()) if len(labels) else None,
        "threshold": {"max_abs_diff": threshold.max_abs_diff, "top1_agreement": threshold.top1_agreement},
        "passed": not problems,
        **({"problem": "; ".join(problems)} if problems else {}),
    }


def summary_line(name: str, result: dict) -> str:
    """One printed line per verified artifact."""
    text = (f"{name}: {result['images']} test images, max |p - p_keras| {result['max_abs_diff']:.2e}, "
            f"top-1 agreement {result['top1_agreement']:.2%}")  # fmt: skip
    if "test_accuracy" in result:
        text += (f", test accuracy {result['test_accuracy']:.4f} vs Keras {result['keras_test_accuracy']:.4f} "
                 f"on {result['test_images']} images")  # fmt: skip
    return text
