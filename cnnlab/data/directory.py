"""Image folders: one sub-folder per class (optionally under train/ and test/), read
with PIL so that broken files are skipped with a warning instead of stopping training."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from cnnlab.data.files import (
    AUTO_MEMORY_LIMIT,
    FileSplit,
    check_files,
    decoded_bytes,
    disk_cache,
)
from cnnlab.data.splits import RawData
from cnnlab.errors import DataError, printable

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
DEFAULT_DIRECTORY_IMAGE_SIZE = (128, 128)
DEFAULT_CACHE_DIR = Path("outputs") / ".cache" / "images"  # data.cache disk without data.cache_dir



def load_directory(data_cfg, seed: int) -> RawData:
    """One sub-folder per class. If the folder has train/ and test/, those are the splits;
    otherwise a seeded 20 % of each class is held out as the test split. The splits are
    file lists (FileSplit) that stream from disk, or arrays, as data.cache decides."""
    root = Path(data_cfg.path).expanduser()
    if not root.is_dir():
        raise DataError(f"data.path {str(root)!r} is not a folder; it should hold one sub-folder per class")
    check_cache_outside(root, data_cfg.cache_dir)
    size = tuple(data_cfg.image_size or DEFAULT_DIRECTORY_IMAGE_SIZE)
    mode = "L" if data_cfg.color_mode == "grayscale" else "RGB"
    if (root / "train").is_dir() and (root / "test").is_dir():
        train, classes = list_image_folder(root / "train", size, mode)
        test, test_classes = list_image_folder(root / "test", size, mode)
        if test_classes != classes:
            raise DataError(f"{printable(root)}/test has classes {printable(test_classes)} but {printable(root)}/train has "
                            f"{printable(classes)}; make them match")  # fmt: skip
    else:
        files, classes = list_image_folder(root, size, mode)
        y = files.labels
        test_mask = np.zeros(len(y), bool)
        rng = np.random.default_rng(seed)
        for c in range(len(classes)):  # stratified, so every class is in the test split
            idx = np.flatnonzero(y == c)
            test_mask[rng.permutation(idx)[: max(1, len(idx) // 5)]] = True
        train, test = files.take(np.flatnonzero(~test_mask)), files.take(np.flatnonzero(test_mask))
    return RawData(apply_cache(train, data_cfg), apply_cache(test, data_cfg), classes)


def check_cache_outside(root: Path, cache_dir: str | None) -> None:
    """cnnlab's own files never go inside the dataset tree: a cache folder there would be
    read as a class by the next run."""
    if not cache_dir:
        return
    cache, data = Path(cache_dir).expanduser().resolve(), root.resolve()
    if cache == data or data in cache.parents:
        raise DataError(f"data.cache_dir {cache_dir!r} is inside data.path {str(root)!r}, where it would be read as a "
                        "class; choose a folder outside the dataset (e.g. outputs/.cache/images)")  # fmt: skip


_WARNED: set[tuple[str, int]] = set()  # folders already warned about in this process


def apply_cache(split: FileSplit, data_cfg) -> tuple:
    """data.cache: memory -> an array; disk -> a FileSplit over a decoded .npy; none -> the
    files; auto -> memory when the decoded images are under 1 GB, else none."""
    choice = data_cfg.cache
    if choice == "auto":
        choice = "memory" if decoded_bytes(split) < AUTO_MEMORY_LIMIT else "none"
    if choice == "memory":
        return np.asarray(split), split.labels
    if choice == "disk":
        split = disk_cache(split, Path(data_cfg.cache_dir) if data_cfg.cache_dir else DEFAULT_CACHE_DIR)
    return split, split.labels


def list_image_folder(root: Path, size: tuple[int, int], mode: str) -> tuple[FileSplit, list[str]]:
    """The folder's image files and labels (class folders sorted by name, files by name);
    files that fail the cheap header check are skipped with one warning line."""
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root} has no class sub-folders; put each class's images in a folder of its own")
    candidates, labels = [], []
    for label, name in enumerate(classes):
        for file in sorted((root / name).iterdir()):
            if file.name.startswith(".") or not file.is_file():
                continue  # .DS_Store and friends are not worth a warning
            candidates.append(file)
            labels.append(label)
    ok = check_files(candidates)
    labels = np.array(labels, np.int64)
    for label, name in enumerate(classes):
        if not any(good for good, lab in zip(ok, labels) if lab == label):
            raise DataError(f"class folder {printable(root / name)} holds no readable images; add PNG/JPEG files or remove it")
    skipped = [f for f, good in zip(candidates, ok) if not good]
    if skipped:
        names = ", ".join(printable(f.name) for f in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        if (str(root), len(skipped)) not in _WARNED:  # once per folder and process (the report reads it again)
            _WARNED.add((str(root), len(skipped)))
            print(f"Warning: skipped {len(skipped)} unreadable or non-image file(s) under {printable(root)}: {names}",
                  file=sys.stderr)  # fmt: skip
    keep = np.array(ok, bool)
    paths = tuple(str(f) for f, good in zip(candidates, ok) if good)
    return FileSplit(paths, labels[keep], tuple(size), mode), classes


def read_image_folder(root: Path, size: tuple[int, int], mode: str):
    """The whole folder decoded in memory: (images, labels, classes)."""
    files, classes = list_image_folder(root, size, mode)
    return np.asarray(files), files.labels, classes
