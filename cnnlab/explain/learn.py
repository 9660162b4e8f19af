"""Learn a kernel (d2l's exercise): recover a known filter from input/output pairs by
gradient descent, in NumPy, one step at a time.

Inputs X (N, H, W) are random +-1 images (seeded), targets Y = X convolved with the
true filter (valid, stride 1, as cnnlab.explain.conv computes it), the learned filter
K (FH, FW) starts at zero. Loss = mean over pairs and output cells of (K*X - Y)^2;
its gradient for weight K[a, b] is 2/M * sum over cells of (error x the input value
that weight touched), M = N*OH*OW. With +-1 inputs the loss is a nearly round bowl
(curvature about 2 in every direction): a learning rate of 0.3 recovers the vertical
filter to 0.005 in 20 steps, 0.1 needs about 60."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from cnnlab.errors import ConfigError
from cnnlab.explain.conv import convolve
from cnnlab.explain.numbers import fmt, grid_text

MAX_STEPS = 1000
MAX_SIZE = 16


@dataclass
class Learning:
    x: np.ndarray  # (N, H, W) inputs
    y: np.ndarray  # (N, OH, OW) targets
    true: np.ndarray  # (FH, FW) the filter to recover
    lr: float
    kernels: list  # (FH, FW) before each step and after the last: steps + 1 entries
    losses: list  # loss of each kernel in ``kernels``


def predict(x: np.ndarray, k: np.ndarray) -> np.ndarray:
    """(N, H, W) inputs, (FH, FW) filter -> (N, OH, OW) maps (cnnlab.explain.conv's convolve)."""
    return np.stack([convolve(image[..., None], k[..., None]).out for image in x])


def loss_and_gradient(x: np.ndarray, y: np.ndarray, k: np.ndarray) -> tuple[float, np.ndarray]:
    err = predict(x, k) - y  # (N, OH, OW)
    fh, fw = k.shape
    oh, ow = err.shape[1:]
    grad = np.array([[(err * x[:, a:a + oh, b:b + ow]).sum() for b in range(fw)] for a in range(fh)])
    return float((err ** 2).mean()), 2.0 * grad / err.size


def learn(true: np.ndarray, *, steps: int = 20, lr: float = 0.3, pairs: int = 4, size: int = 6,
          seed: int = 0) -> Learning:
    if true.ndim == 3:
        if true.shape[-1] != 1:
            raise ConfigError("learn-kernel recovers a one-channel filter; give an (FH, FW) matrix")
        true = true[..., 0]
    if not 1 <= steps <= MAX_STEPS:
        raise ConfigError(f"--steps {steps}: use 1 to {MAX_STEPS}")
    if not lr > 0:
        raise ConfigError(f"--lr {lr}: the learning rate must be positive, e.g. 0.1")
    if not 1 <= pairs <= 32:
        raise ConfigError(f"--pairs {pairs}: use 1 to 32 input/output pairs")
    if not max(true.shape) <= size <= MAX_SIZE:
        raise ConfigError(f"--size {size}: the images must be at least as big as the {true.shape[0]}x{true.shape[1]} "
                          f"filter and at most {MAX_SIZE}")
    rng = np.random.default_rng(seed)
    x = rng.choice([-1.0, 1.0], size=(pairs, size, size))
    y = predict(x, true)
    k = np.zeros_like(true, dtype=float)
    kernels, losses = [], []
    for _ in range(steps):
        loss, grad = loss_and_gradient(x, y, k)
        kernels.append(k)
        losses.append(loss)
        k = k - lr * grad
    kernels.append(k)
    losses.append(loss_and_gradient(x, y, k)[0])
    return Learning(x, y, true, lr, kernels, losses)


def learn_text(r: Learning, decimals: int = 3) -> str:
    n, h, w = r.x.shape
    fh, fw = r.true.shape
    lines = [f"{n} random +-1 images of {h}x{w}; each target is the image convolved with the hidden {fh}x{fw} filter.",
             "Start from a filter of zeros; each step: loss = mean (prediction - target)^2, "
             f"filter -= {fmt(r.lr, 4)} x gradient.", ""]
    for step, (k, loss) in enumerate(zip(r.kernels, r.losses)):
        flat = " ".join(fmt(v, decimals) for v in k.ravel())
        lines.append(f"  step {step:>3}: loss {fmt(loss, 5):>9}   filter [{flat}]")
    error = float(np.abs(r.kernels[-1] - r.true).max())
    lines += ["", "hidden filter:", grid_text(r.true, decimals), "learned filter:", grid_text(r.kernels[-1], decimals),
              f"largest difference: {fmt(error, 6)}" + ("  (recovered)" if error < 0.01 else
                                                       "  (not yet: more --steps or a larger --lr)")]
    return "\n".join(lines)


def learn_state(r: Learning) -> dict:
    return {"x": r.x.tolist(), "y": r.y.tolist(), "true": r.true.tolist(), "lr": r.lr,
            "kernels": [k.tolist() for k in r.kernels], "losses": r.losses}


BODY = """<header><h1>Learn a kernel</h1>
<p class="muted">Gradient descent recovers a hidden filter from input/output pairs. Press Step and watch the
filter move towards the one that made the targets. Nothing is fetched.</p></header>
<main>
<section id="controls"><button type="button" id="step">Step</button> <button type="button" id="run10">10 steps</button>
<button type="button" id="reset">Reset</button>
<label>learning rate <input type="number" id="lr" step="any" min="0"></label></section>
<p id="status" aria-live="polite"></p>
<section id="stages"></section>
<section id="history"><h2>Loss per step</h2><div class="scroll"><table id="losses"></table></div></section>
<div id="why" aria-live="polite">Hover or tap a weight of the learned filter to see its gradient.</div>
</main>"""


def learn_page(r: Learning, decimals: int = 3) -> str:
    from cnnlab.explain.page import render

    return render("cnnlab explain learn-kernel", BODY, {**learn_state(r), "decimals": decimals}, ["learn.js"],
                  ["lab.css"])
