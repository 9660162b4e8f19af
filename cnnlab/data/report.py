"""What a config's data really is, before any training: images and class counts per
split, what is on disk (sizes, channels, what gets resized or skipped and why), pixel
statistics, a grid of samples per class, and a class-imbalance warning."""

from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from cnnlab import runs
from cnnlab.errors import printable
from cnnlab.runs.table import text_table

SPLITS = ("train", "validation", "test")


@dataclass
class DiskFacts:
    """What the files hold before cnnlab adapts them."""

    files: int = 0
    formats: Counter = field(default_factory=Counter)  # "28x28 L" -> count (width x height, PIL mode)
    resized: int = 0  # stored at another size than the model input
    converted: int = 0  # stored with other channels than the model input
    skipped: dict[str, list[str]] = field(default_factory=dict)  # reason -> file names


@dataclass
class DataReport:
    source: str
    class_names: list[str]
    counts: dict[str, list[int]]  # split -> images per class
    input_shape: tuple[int, int, int]
    disk: DiskFacts
    pixel_mean: list[float]  # per channel, training split, 0..255
    pixel_std: list[float]
    imbalance_ratio: float  # most / fewest training images of a class (inf when a class has none)
    samples_plot: Path | None = None

    def to_json(self) -> dict:
        return {
            "source": self.source,
            "class_names": self.class_names,
            "counts": self.counts,
            "input_shape": list(self.input_shape),
            "on_disk": {"files": self.disk.files, "formats": dict(self.disk.formats), "resized": self.disk.resized,
                        "converted": self.disk.converted, "skipped": self.disk.skipped},  # fmt: skip
            "pixel_mean": self.pixel_mean,
            "pixel_std": self.pixel_std,
            "imbalance_ratio": None if np.isinf(self.imbalance_ratio) else round(self.imbalance_ratio, 3),
        }


PIXEL_SAMPLE = 2000  # images the pixel mean/std are measured on when they stream from disk


def data_report(cfg, output_dir: Path = runs.DEFAULT_OUTPUT_DIR, samples_per_class: int = 8) -> DataReport:
    """Look at ``cfg``'s data; writes <output_dir>/<name>/data/samples.png and report.json."""
    from cnnlab.data import load_dataset

    runs.check_writable(output_dir)
    data = load_dataset(cfg.data, cfg.seed)
    n = data.num_classes
    counts = {
        split: np.bincount(y, minlength=n).tolist()
        for split, y in zip(SPLITS, (data.y_train, data.y_val, data.y_test))
    }
    train = counts["train"]
    ratio = max(train) / min(train) if min(train) else float("inf")
    x = data.x_train
    if not isinstance(x, np.ndarray):  # files streamed from disk (data.cache none/disk): a seeded sample
        chosen = np.random.default_rng(cfg.seed).choice(len(x), min(len(x), PIXEL_SAMPLE), replace=False)
        x = x[np.sort(chosen)]
    pixels = x.reshape(-1, x.shape[-1]).astype(np.float64)  # (N*H*W, C)
    report = DataReport(
        source=cfg.data.source,
        class_names=data.class_names,
        counts=counts,
        input_shape=data.input_shape,
        disk=disk_facts(cfg.data, data.input_shape, cfg.seed),
        pixel_mean=[round(float(v), 2) for v in pixels.mean(axis=0)],
        pixel_std=[round(float(v), 2) for v in pixels.std(axis=0)],
        imbalance_ratio=float(ratio),
    )
    folder = runs.inside(output_dir, cfg.name) / "data"
    report.samples_plot = runs.save_figure(
        sample_grid(data.x_train, data.y_train, data.class_names, samples_per_class, cfg.seed), folder / "samples.png"
    )
    runs.write_json(folder / "report.json", report.to_json())
    return report


# ---------------------------------------------------------------- on disk


def disk_facts(data_cfg, input_shape: tuple[int, int, int], seed: int) -> DiskFacts:
    if data_cfg.source == "directory":
        return scan_folders(Path(data_cfg.path).expanduser(), input_shape)
    from cnnlab.data import source_loader

    # Array sources (IDX, npz, ...): what the loader returns, before adaptation, is what is stored.
    (x_train, _), (x_test, _), _ = source_loader(data_cfg.source)(data_cfg, seed)
    facts = DiskFacts()
    for x in (x_train, x_test):  # arrays: one format each
        h, w, c = x.shape[1:]
        facts.files += len(x)
        facts.formats[f"{w}x{h} {'L' if c == 1 else 'RGB'}"] += len(x)
        facts.resized += len(x) if (h, w) != input_shape[:2] else 0
        facts.converted += len(x) if c != input_shape[2] else 0
    return facts


def scan_folders(root: Path, input_shape: tuple[int, int, int]) -> DiskFacts:
    """Every file the folder loader would read, opened the same way (so a file skipped
    here is one the loader skips too), with the reason it was skipped."""
    from PIL import Image, UnidentifiedImageError

    facts = DiskFacts()
    split_roots = [root / "train", root / "test"] if (root / "train").is_dir() and (root / "test").is_dir() else [root]
    want_mode = "L" if input_shape[2] == 1 else "RGB"
    for split_root in split_roots:
        for class_dir in sorted(p for p in split_root.iterdir() if p.is_dir() and not p.name.startswith(".")):
            for file in sorted(class_dir.iterdir()):
                if file.name.startswith(".") or not file.is_file():
                    continue
                facts.files += 1
                try:
                    with Image.open(file) as img:
                        size, mode = img.size, img.mode
                        img.load()  # decode fully: a truncated file fails here, as in the loader
                except UnidentifiedImageError:
                    facts.skipped.setdefault("not an image", []).append(str(file.relative_to(root)))
                    continue
                except Exception as exc:
                    reason = f"unreadable ({str(exc).splitlines()[0] if str(exc) else type(exc).__name__})"
                    facts.skipped.setdefault(reason, []).append(str(file.relative_to(root)))
                    continue
                facts.formats[f"{size[0]}x{size[1]} {mode}"] += 1
                facts.resized += (size[1], size[0]) != tuple(input_shape[:2])
                facts.converted += mode != want_mode
    return facts


# ---------------------------------------------------------------- pictures and text


def sample_grid(x: np.ndarray, y: np.ndarray, class_names: list[str], per_class: int, seed: int):
    """One row per class: up to ``per_class`` random training images of it."""
    from cnnlab.plots import image_grid

    rng = np.random.default_rng(seed)
    images, titles = [], []
    for c, name in enumerate(class_names):
        idx = np.flatnonzero(y == c)
        chosen = rng.choice(idx, min(per_class, len(idx)), replace=False) if len(idx) else []
        for j in range(per_class):
            images.append(x[chosen[j]] if j < len(chosen) else np.zeros_like(x[0]))
            titles.append(f"{printable(name)} ({len(idx)})" if j == 0 else "")
    return image_grid(images, titles, ncols=per_class, suptitle="training images per class (count)")


def imbalance_warning(report: DataReport, limit: float) -> str | None:
    if report.imbalance_ratio <= limit:
        return None
    train = report.counts["train"]
    most, fewest = int(np.argmax(train)), int(np.argmin(train))
    ratio = "inf" if np.isinf(report.imbalance_ratio) else f"{report.imbalance_ratio:.1f}"
    return (
        f"classes are imbalanced: {report.class_names[most]!r} has {train[most]} training images, "
        f"{report.class_names[fewest]!r} {train[fewest]} (ratio {ratio} > {limit:g}); "
        "consider train.class_weight: balanced, or collect more of the rare classes"
    )


def format_report(report: DataReport) -> list[str]:
    # names from disk: never a line or a control of their own
    rows = [[printable(name), *(report.counts[s][c] for s in SPLITS)] for c, name in enumerate(report.class_names)]
    rows.append(["total", *(sum(report.counts[s]) for s in SPLITS)])
    lines = text_table(["class", "train", "validation", "test"], rows, right={1, 2, 3}).splitlines()
    h, w, c = report.input_shape
    disk = report.disk
    formats = ", ".join(f"{fmt}: {n}" for fmt, n in disk.formats.most_common(5))
    more = f" (+{len(disk.formats) - 5} more sizes)" if len(disk.formats) > 5 else ""
    lines.append(f"on disk: {disk.files} images ({formats}{more}); model input {h}x{w}x{c}")
    lines.append(f"  resized: {disk.resized}; channels converted: {disk.converted}; "
                 f"skipped: {sum(len(v) for v in disk.skipped.values())}")  # fmt: skip
    for reason, files in disk.skipped.items():
        shown = ", ".join(printable(f) for f in files[:3]) + (", ..." if len(files) > 3 else "")
        lines.append(f"  skipped {len(files)}, {reason}: {shown}")
    mean = ", ".join(f"{v:.1f}" for v in report.pixel_mean)
    std = ", ".join(f"{v:.1f}" for v in report.pixel_std)
    channels = "" if c == 1 else " (R, G, B)"
    lines.append(f"pixels of the training split (0..255){channels}: mean {mean}, std {std}")
    ratio = "inf" if np.isinf(report.imbalance_ratio) else f"{report.imbalance_ratio:.2f}"
    lines.append(f"class imbalance (most / fewest training images): {ratio}")
    lines.append(f"sample images per class written to {report.samples_plot}")
    return lines
