"""Shared fixtures. Unit tests use tiny synthetic data; integration tests use the real
Fashion-MNIST (Debian's dataset-fashion-mnist, or the Keras cache)."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
import yaml
from click.testing import CliRunner

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("CNNLAB_OFFLINE", "1")  # never try a download from the test suite

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "configs"

# The textbook stack, small enough to train in a second on 28x28 inputs.
TINY_LAYERS = [
    {"type": "Conv2D", "filters": 4, "kernel_size": 3, "activation": "relu", "padding": "same"},
    {"type": "MaxPooling2D", "pool_size": 2},
    {"type": "Conv2D", "filters": 8, "kernel_size": 3, "activation": "relu", "padding": "same"},
    {"type": "MaxPooling2D", "pool_size": 2},
    {"type": "Flatten"},
    {"type": "Dense", "units": 16, "activation": "relu"},
    {"type": "Dropout", "rate": 0.2},
    {"type": "Dense", "units": 3, "activation": "softmax"},
]


def make_pattern_dataset(n: int, size: int = 28, seed: int = 0):
    """3 learnable classes: a bright square top-left, bottom-right, or a horizontal bar.
    uint8 (n, size, size, 1) with noise, int labels."""
    rng = np.random.default_rng(seed)
    x = rng.integers(0, 40, (n, size, size, 1)).astype(np.uint8)
    y = rng.integers(0, 3, n)
    s = size // 3
    for i, label in enumerate(y):
        if label == 0:
            x[i, 2 : 2 + s, 2 : 2 + s] = 230
        elif label == 1:
            x[i, -2 - s : -2, -2 - s : -2] = 230
        else:
            x[i, size // 2 - 2 : size // 2 + 2, 3:-3] = 230
    return x, y


@pytest.fixture
def pattern_npz(tmp_path) -> Path:
    """An .npz dataset (x_train, y_train, x_test, y_test) of the 3 pattern classes."""
    x_train, y_train = make_pattern_dataset(300, seed=1)
    x_test, y_test = make_pattern_dataset(90, seed=2)
    path = tmp_path / "patterns.npz"
    np.savez(path, x_train=x_train, y_train=y_train, x_test=x_test, y_test=y_test)
    return path


def write_config(path: Path, **sections) -> Path:
    """Write a YAML config; sections are merged over a tiny npz default."""
    cfg = {
        "name": "tiny",
        "seed": 1,
        "data": {"source": "npz", "batch_size": 32, "validation_split": 0.2},
        "model": {"layers": TINY_LAYERS},
        # float32 on every machine (auto would pick mixed_float16 on a GPU): the same numbers everywhere
        "train": {"epochs": 2, "verbose": 0, "tensorboard": False, "mixed_precision": False},
    }
    for key, value in sections.items():
        if isinstance(value, dict) and isinstance(cfg.get(key), dict):
            cfg[key] = {**cfg[key], **value}
        else:
            cfg[key] = value
    path.write_text(yaml.safe_dump(cfg, sort_keys=False))
    return path


@pytest.fixture
def tiny_config(tmp_path, pattern_npz) -> Path:
    """A runnable config on the synthetic pattern data (trains in ~2 s)."""
    return write_config(tmp_path / "tiny.yaml", data={"path": str(pattern_npz)})


@pytest.fixture
def cli():
    """Invoke the CLI in-process: cli("train", "cfg.yaml") -> click Result
    (result.exit_code, result.stdout, result.stderr, result.output)."""
    from cnnlab.cli import cli as group

    runner = CliRunner()

    def invoke(*args):
        return runner.invoke(group, [str(a) for a in args], obj={}, catch_exceptions=False)

    return invoke


def fashion_mnist_available() -> bool:
    from cnnlab.data.idx import _has_idx_files, idx_search_dirs

    return any(_has_idx_files(d) for d in idx_search_dirs("fashion_mnist"))


# On CI the data is installed by scripts/setup.sh, so a missing dataset must fail, not skip.
MUST_HAVE_DATA = bool(os.environ.get("CI"))
requires_fashion = pytest.mark.skipif(
    not MUST_HAVE_DATA and not fashion_mnist_available(),
    reason="Fashion-MNIST not installed: apt-get install dataset-fashion-mnist",
)


@pytest.fixture(scope="session")
def fashion_run(tmp_path_factory) -> Path:
    """One real textbook-model run on a Fashion-MNIST subset (3,000 images, 1 epoch),
    trained once per test session and shared read-only by the tests that need a run."""
    if not MUST_HAVE_DATA and not fashion_mnist_available():
        pytest.skip("Fashion-MNIST not installed: apt-get install dataset-fashion-mnist")
    from cnnlab.config import load_config
    from cnnlab.train import train

    out = tmp_path_factory.mktemp("outputs")
    cfg = load_config(
        CONFIGS / "fashion.yaml",
        ["data.limit=3000", "train.epochs=1", "train.verbose=0", "train.tensorboard=false",
         "train.mixed_precision=false"],  # the same numbers on every CPU (see write_config)
    )
    return train(cfg, out)


# ---------------------------------------------------------------- the fast inner loop
# `scripts/test.sh -m "not slow"` skips what trains a model or starts a subprocess:
# tests that use one of these fixtures, every test of these modules, and tests marked
# @pytest.mark.slow by hand. CI runs everything.
SLOW_FIXTURES = {"fashion_run", "fashion", "bn_run", "square_run", "nested_model", "tiny_config"}
SLOW_MODULES = {"test_reliability", "test_backbones"}


def pytest_collection_modifyitems(items):
    for item in items:
        module = item.module.__name__.rsplit(".", 1)[-1]
        if module in SLOW_MODULES or SLOW_FIXTURES & set(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.slow)


def overlapping_texts(fig, tolerance: float = 1.0) -> list[tuple[str, str]]:
    """Pairs of visible, non-empty texts of a matplotlib figure whose drawn boxes overlap
    (by more than ``tolerance`` pixels each way), measured with the figure's own renderer:
    titles, suptitles, axis labels, colour-bar labels and the numbers written into cells.
    Tick labels are left out (matplotlib spaces them itself)."""
    import numpy as np

    fig.canvas.draw()
    renderer = fig.canvas.get_renderer()
    texts = list(fig.texts)
    for ax in fig.axes:
        texts += [ax.title, ax._left_title, ax._right_title, ax.xaxis.label, ax.yaxis.label, *ax.texts]
        legend = ax.get_legend()
        if legend is not None:
            texts += legend.get_texts()
    texts = [t for t in texts if t.get_visible() and t.get_text().strip()]
    boxes = np.array([t.get_window_extent(renderer).extents for t in texts])  # (n, 4): x0, y0, x1, y1
    if len(boxes) < 2:
        return []
    x0, y0, x1, y1 = (boxes[:, i] for i in range(4))
    wide = (np.minimum(x1[:, None], x1[None]) - np.maximum(x0[:, None], x0[None])) > tolerance
    tall = (np.minimum(y1[:, None], y1[None]) - np.maximum(y0[:, None], y0[None])) > tolerance
    i, j = np.nonzero(np.triu(wide & tall, k=1))
    return [(texts[a].get_text(), texts[b].get_text()) for a, b in zip(i, j)]


# ---------------------------------------------------------------- one headless browser per session
# Debian's chromium driven by Playwright's sync API. One instance for every test file:
# Playwright's sync API refuses to start a second one while another is running.
CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                 "--disable-component-update", "--no-first-run", "--disable-sync"]  # fmt: skip


@pytest.fixture(scope="session")
def browser():
    """CI installs Chromium and Playwright (scripts/setup.sh): there the browser tests must
    run, not skip."""
    missing = []
    if not CHROMIUM.exists():
        missing.append("Debian's chromium (apt-get install chromium)")
    try:
        import playwright.sync_api  # noqa: F401
    except ImportError:
        missing.append("Playwright for Python (pip install 'cnnlab[browser]')")
    if missing:
        if os.environ.get("CI"):
            pytest.fail("browser test needs " + " and ".join(missing))
        pytest.skip("no browser to test in: install " + " and ".join(missing))
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        chromium = p.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield chromium
        chromium.close()



def train_until_backup(cfg, output_dir, epoch: int, monkeypatch):
    """Train ``cfg`` and stop it, as SIGTERM would, right after epoch ``epoch`` is backed up
    (a resumable interrupted run); returns its run directory."""
    from cnnlab.errors import TrainingInterrupted
    from cnnlab.train import guard, resume, signals, train

    real_save = resume.save_backup

    def save_then_stop(run, model, state):
        real_save(run, model, state)
        if state.epoch == epoch:
            signals.request_stop(15)

    monkeypatch.setattr(guard, "save_backup", save_then_stop)
    try:
        with pytest.raises(TrainingInterrupted):
            train(cfg, output_dir)
    finally:
        monkeypatch.setattr(guard, "save_backup", real_save)
        signals.request_stop(None)
    return next(Path(output_dir).glob("*/*"))
