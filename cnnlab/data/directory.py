"""Image folders: one sub-folder per class (optionally under train/ and test/), read
with PIL so that broken files are skipped with a warning instead of stopping training."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np

from cnnlab.data.images import decode_image
from cnnlab.data.splits import RawData
from cnnlab.errors import DataError

IMAGE_SUFFIXES = {".png", ".jpg", ".jpeg", ".bmp", ".gif"}
DEFAULT_DIRECTORY_IMAGE_SIZE = (128, 128)



def load_directory(data_cfg, seed: int) -> RawData:
    """One sub-folder per class. If the folder has train/ and test/, those are the splits;
    otherwise a seeded 20 % of each class is held out as the test split."""
    root = Path(data_cfg.path).expanduser()
    if not root.is_dir():
        raise DataError(f"data.path {str(root)!r} is not a folder; it should hold one sub-folder per class")
    size = tuple(data_cfg.image_size or DEFAULT_DIRECTORY_IMAGE_SIZE)
    mode = "L" if data_cfg.color_mode == "grayscale" else "RGB"
    if (root / "train").is_dir() and (root / "test").is_dir():
        x_train, y_train, classes = read_image_folder(root / "train", size, mode)
        x_test, y_test, test_classes = read_image_folder(root / "test", size, mode)
        if test_classes != classes:
            raise DataError(f"{root}/test has classes {test_classes} but {root}/train has {classes}; make them match")
        return RawData((x_train, y_train), (x_test, y_test), classes)
    x, y, classes = read_image_folder(root, size, mode)
    test_mask = np.zeros(len(y), bool)
    rng = np.random.default_rng(seed)
    for c in range(len(classes)):  # stratified, so every class is in the test split
        idx = np.flatnonzero(y == c)
        test_mask[rng.permutation(idx)[: max(1, len(idx) // 5)]] = True
    return RawData((x[~test_mask], y[~test_mask]), (x[test_mask], y[test_mask]), classes)


def read_image_folder(root: Path, size: tuple[int, int], mode: str):
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise DataError(f"{root} has no class sub-folders; put each class's images in a folder of its own")
    images, labels, skipped = [], [], []
    for label, name in enumerate(classes):
        count = 0
        for file in sorted((root / name).iterdir()):
            if file.name.startswith(".") or not file.is_file():
                continue  # .DS_Store and friends are not worth a warning
            try:
                array = decode_image(file, mode, size)
            except DataError:
                skipped.append(file)
                continue
            images.append(array)
            labels.append(label)
            count += 1
        if count == 0:
            raise DataError(f"class folder {root / name} holds no readable images; add PNG/JPEG files or remove it")
    if skipped:
        names = ", ".join(f.name for f in skipped[:3]) + (", ..." if len(skipped) > 3 else "")
        print(f"Warning: skipped {len(skipped)} unreadable or non-image file(s) under {root}: {names}", file=sys.stderr)
    return np.stack(images), np.array(labels, np.int64), classes
