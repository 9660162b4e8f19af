"""The learning-rate range test (Leslie Smith 2015; fastai's ``lr_find``).

Train for a few hundred steps while the learning rate grows exponentially from
``min_lr`` to ``max_lr``, record the loss of every batch, smooth it, and stop once it
explodes. The model's weights (and the optimizer's state) are put back afterwards,
so the test changes nothing.

Two estimates, both heuristics (a starting point to check by training, not a promise):

- **valley** (fastai's default since 2021): the longest stretch over which the smoothed
  loss keeps reaching new lows before its minimum; the rate halfway along it. It looks at
  the whole descent, so one noisy step cannot move it onto the minimum.
- **minimum / 10**: the rate of the smoothed loss's minimum with a safety factor of 10;
  only as good as the point where the loss blows up, which on small data sits in the noise.

The suggestion is the lower of the two, so it is always at least 10x below the minimum's
rate: at the minimum the loss has stopped falling, and a run at that rate can diverge. (The old
"steepest descent" took np.gradient up to the minimum, whose one-sided last difference
made the minimum itself the steepest point on short sweeps: 3.76e-02 for a 100-step
Fashion-MNIST sweep, and training at it stayed at chance.)
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab import runs
from cnnlab.errors import ConfigError

SMOOTHING_WINDOW = 0.05  # the loss's moving average spans ~5 % of the steps (fastai's 0.98 lags a 100-step sweep)
EXPLODE_FACTOR = 4.0  # stop once the smoothed loss exceeds 4x its minimum
SKIP_START = 0.1  # fraction of the first steps left out of the suggestion: the EMA is still settling
MIN_DESCENT_POINTS = 5


@dataclass
class RangeTest:
    learning_rates: list[float] = field(default_factory=list)
    losses: list[float] = field(default_factory=list)  # raw batch losses
    smoothed: list[float] = field(default_factory=list)
    stopped_early: bool = False  # the loss exploded before max_lr
    valley: float | None = None  # halfway along the longest descent to the minimum
    minimum: float | None = None  # learning rate of the smoothed loss's minimum
    minimum_tenth: float | None = None  # minimum / 10
    suggestion: float | None = None
    method: str = ""  # "valley" or "minimum / 10": the estimate the suggestion is


def check_range(steps: int, min_lr: float, max_lr: float) -> None:
    if steps < 10:
        raise ConfigError(f"--steps {steps} is too few for a range test; use at least 10 (100-300 is usual)")
    for flag, value in (("--min-lr", min_lr), ("--max-lr", max_lr)):
        if not math.isfinite(value):
            raise ConfigError(f"{flag} {value:g} is not a finite number; e.g. --min-lr 1e-7 --max-lr 10")
    if not (0 < min_lr < max_lr):
        raise ConfigError(f"--min-lr {min_lr:g} must be > 0 and below --max-lr {max_lr:g}; e.g. --min-lr 1e-7 --max-lr 10")


def learning_rate_at(step: int, steps: int, min_lr: float, max_lr: float) -> float:
    """Exponential growth: min_lr at step 0, max_lr at the last step."""
    return min_lr * (max_lr / min_lr) ** (step / max(steps - 1, 1))


def smoothing(steps: int) -> float:
    """EMA factor whose window, 1 / (1 - beta), is SMOOTHING_WINDOW of the steps (0.8 to 0.98)."""
    return min(0.98, max(0.8, 1 - 1 / (SMOOTHING_WINDOW * steps)))


def range_test(model, batches, steps: int, min_lr: float, max_lr: float) -> RangeTest:
    """Run the test on a compiled ``model`` over ``batches`` (an iterable of (x, y) that
    yields at least ``steps`` batches). The model's weights and optimizer state are
    restored afterwards, whatever happens."""
    check_range(steps, min_lr, max_lr)
    result = RangeTest()
    initial = [v.numpy() for v in model.weights]
    optimizer = model.optimizer
    avg, best = 0.0, math.inf
    beta = smoothing(steps)
    try:
        for step, (x, y) in zip(range(steps), batches):
            lr = learning_rate_at(step, steps, min_lr, max_lr)
            optimizer.learning_rate = lr
            loss = float(np.asarray(model.train_on_batch(x, y, return_dict=True)["loss"]))
            result.learning_rates.append(lr)
            result.losses.append(loss)
            if not math.isfinite(loss):
                result.stopped_early = True
                result.losses.pop(), result.learning_rates.pop()
                break
            avg = beta * avg + (1 - beta) * loss
            smooth = avg / (1 - beta ** (step + 1))  # bias-corrected exponential moving average
            result.smoothed.append(smooth)
            best = min(best, smooth)
            if step > 0 and smooth > EXPLODE_FACTOR * best:
                result.stopped_early = True
                break
    finally:
        for variable, value in zip(model.weights, initial):
            variable.assign(value)
        for variable in optimizer.variables:  # moments, iteration count: back to a fresh optimizer
            if "learning_rate" not in variable.path:
                variable.assign(np.zeros(variable.shape, variable.dtype))
    suggest(result)
    return result


def longest_descent(smooth: np.ndarray) -> tuple[int, int]:
    """(start, end) of the longest decreasing subsequence of ``smooth``, as fastai's
    ``valley``: the run of steps over which the loss keeps reaching new lows. O(n^2),
    fine for a few hundred steps."""
    n = len(smooth)
    length = [1] * n
    best_end = 0
    for i in range(1, n):
        for j in range(i):
            if smooth[i] < smooth[j] and length[i] < length[j] + 1:
                length[i] = length[j] + 1
        if length[i] > length[best_end]:
            best_end = i
    return best_end - length[best_end] + 1, best_end


def suggest(result: RangeTest) -> None:
    """Fill valley, minimum, minimum_tenth, suggestion and method from the smoothed curve."""
    lrs, smooth = np.array(result.learning_rates[: len(result.smoothed)]), np.array(result.smoothed)
    if len(smooth) < 2:
        return
    lowest = int(np.argmin(smooth))
    result.minimum = float(lrs[lowest])
    result.minimum_tenth = result.minimum / 10
    start = int(len(smooth) * SKIP_START)
    if lowest - start >= MIN_DESCENT_POINTS:
        first, last = longest_descent(smooth[start : lowest + 1])
        if last - first >= MIN_DESCENT_POINTS:
            result.valley = float(lrs[start + (first + last) // 2])
    estimates = {"valley": result.valley, "minimum / 10": result.minimum_tenth}
    method = min((name for name, rate in estimates.items() if rate is not None), key=lambda name: estimates[name])
    result.method = method
    result.suggestion = estimates[method]  # <= minimum / 10: never at or past the minimum


def plot_range_test(result: RangeTest, title: str = ""):
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.2))
    lrs = result.learning_rates
    ax.plot(lrs, result.losses, color="0.75", linewidth=0.8, label="batch loss")
    ax.plot(lrs[: len(result.smoothed)], result.smoothed, color="C0", linewidth=1.8, label="smoothed loss")
    if result.valley is not None:
        ax.axvline(result.valley, color="C3", linestyle="--", label=f"valley {result.valley:.2e}")
    if result.minimum_tenth is not None:
        ax.axvline(result.minimum_tenth, color="C2", linestyle=":", label=f"minimum / 10 {result.minimum_tenth:.2e}")
    if result.suggestion is not None:
        y = np.interp(np.log(result.suggestion), np.log(lrs[: len(result.smoothed)]), result.smoothed)
        ax.plot([result.suggestion], [y], "o", color="C3", markersize=8, label=f"suggested ({result.method}; a heuristic)")
    if result.smoothed:  # the explosion would squash the interesting part: clip the y range
        low, high = min(result.smoothed), result.smoothed[0]
        ax.set_ylim(low - 0.1 * (high - low + 1e-9), max(high, low) * 1.5 + 1e-9)
    ax.set_xscale("log")
    ax.set_xlabel("learning rate (log scale)")
    ax.set_ylabel("training loss")
    ax.set_title(title or "learning-rate range test")
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def lr_find(cfg, output_dir: Path = runs.DEFAULT_OUTPUT_DIR, steps: int = 200, min_lr: float = 1e-7,
            max_lr: float = 10.0) -> tuple[RangeTest, Path]:  # fmt: skip
    """The range test on ``cfg``'s model and training data; writes
    <output_dir>/<name>/lr-find.png and lr-find.csv. Returns (result, plot path)."""
    check_range(steps, min_lr, max_lr)
    from cnnlab.data.mixing import mix_batches
    from cnnlab.backend import global_policy_restored, keras
    from cnnlab.data import load_dataset
    from cnnlab.data.pipeline import make_pipeline
    from cnnlab.model import build_model, check_model
    from cnnlab.train.compile import compile_model, set_precision_policy

    runs.check_writable(output_dir)
    check_model(cfg)  # before the seed: a test-built layer draws from the global generator
    keras().utils.set_random_seed(cfg.seed)
    with global_policy_restored():  # the range test's model alone is built in the run's precision
        set_precision_policy(cfg)
        data = load_dataset(cfg.data, cfg.seed)
        model = build_model(cfg, data.input_shape, data.num_classes)
        # A constant rate that the test sets before every batch (a schedule cannot be set).
        constant = cfg.train.optimizer.model_copy(update={"schedule": "constant", "warmup_epochs": 0})
        compile_model(model, cfg, steps, optimizer_cfg=constant, epochs=1)
        one_hot = data.num_classes if cfg.train.loss == "categorical_crossentropy" else 0
        batches = make_pipeline(data.x_train, data.y_train, cfg.data.batch_size, shuffle=True, seed=cfg.seed, one_hot=one_hot)
        batches = mix_batches(batches, cfg.augment, cfg.seed).repeat()  # as training sees them, for as many steps as asked
        result = range_test(model, batches, steps, min_lr, max_lr)
    folder = runs.inside(output_dir, cfg.name)
    rows = ["step,learning_rate,loss,smoothed_loss"] + [
        f"{i},{lr:.6g},{loss:.6g},{result.smoothed[i]:.6g}" if i < len(result.smoothed) else f"{i},{lr:.6g},{loss:.6g},"
        for i, (lr, loss) in enumerate(zip(result.learning_rates, result.losses))
    ]
    runs.write_text(folder / "lr-find.csv", "\n".join(rows) + "\n")
    title = f"{cfg.name}: range test, {len(result.losses)} steps of batch {cfg.data.batch_size}"
    plot = runs.save_figure(plot_range_test(result, title), folder / "lr-find.png")
    return result, plot
