"""Image folders that stay on disk: a split is a list of files, decoded when a batch needs them.

`FileSplit` stands where an (N, H, W, C) uint8 array stands in `Dataset` (len, shape,
indexing all work), so evaluation and plots keep working; training reads it through
`cnnlab.data.pipeline.make_pipeline`, which decodes in parallel inside tf.data.

Caching (`data.cache`): `memory` decodes everything once into an array (today's
behaviour); `disk` decodes once into a `.npy` file under `data.cache_dir` named by a
hash of the file list, sizes and mtimes (so later runs of the same folder reuse it and
any changed file makes a new one) and reads it image by image; `none` decodes every
epoch. A `.npy` of fixed-size rows rather than a tf.data cache file: tf.data's cache
fixes the element order, so shuffling after it would need a shuffle buffer of every
image (memory in the dataset's size again) and a different order from the in-memory
pipeline; with rows read by index the pipeline still shuffles indices, as for arrays.
"""

from __future__ import annotations

import hashlib
import os
import sys
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.data.images import decode_image
from cnnlab.errors import DataError

AUTO_MEMORY_LIMIT = 1 << 30  # data.cache auto: decoded data under 1 GB stays in memory
CACHE_FORMAT = 1  # bump when decode_image's output changes, so old cache files are not reused
_THREADS = min(8, (os.cpu_count() or 2) * 2)


@dataclass(frozen=True)
class FileSplit:
    """Image files and their labels, decoded to (height, width) in PIL `mode` on demand.
    `cache_file`: a .npy of the decoded images (data.cache disk), read row by row."""

    paths: tuple[str, ...]
    labels: np.ndarray
    size: tuple[int, int]
    mode: str
    cache_file: str | None = None
    rows: np.ndarray | None = None  # this split's rows in cache_file (a split shares one file)

    def __len__(self) -> int:
        return len(self.paths)

    @property
    def shape(self) -> tuple[int, int, int, int]:
        return (len(self), *self.size, 1 if self.mode == "L" else 3)

    dtype = np.dtype(np.uint8)
    ndim = 4

    def take(self, idx) -> FileSplit:
        """The subset at positions idx (a file list, not pixels)."""
        idx = np.asarray(idx, np.int64)
        rows = None if self.cache_file is None else self._rows()[idx]
        return FileSplit(tuple(self.paths[i] for i in idx), self.labels[idx], self.size, self.mode, self.cache_file, rows)

    def shard(self, num: int, index: int) -> FileSplit:
        """Hook for multi-worker training: worker `index` of `num` reads every num-th file."""
        return self.take(np.arange(index, len(self), num))

    def read(self, i: int) -> np.ndarray:
        """Image i as (H, W, C) uint8. Never raises: a file that broke after the header
        check (changed on disk, or damage the check could not see) reads as black with
        a warning, so training never stops mid-epoch."""
        if self.cache_file is not None:
            return _cached_image(self.cache_file, int(self._rows()[i]), self.shape[1:])
        try:
            return decode_image(self.paths[i], self.mode, self.size)
        except DataError as exc:
            print(f"Warning: {self.paths[i]}: {exc}; used a black image instead", file=sys.stderr)
            return np.zeros(self.shape[1:], np.uint8)

    def read_many(self, idx) -> np.ndarray:
        idx = np.asarray(idx, np.int64).reshape(-1)
        with ThreadPoolExecutor(_THREADS) as pool:  # PIL releases the GIL while decoding
            images = list(pool.map(self.read, idx))
        return np.stack(images) if images else np.zeros((0, *self.shape[1:]), np.uint8)

    def __getitem__(self, key):
        """Pixels, like an array: split[i] -> (H, W, C); split[a:b] or split[[i, j]] -> (n, H, W, C)."""
        if isinstance(key, (int, np.integer)):
            return self.read(int(key) % len(self) if key < 0 else int(key))
        return self.read_many(np.arange(len(self))[key])

    def __array__(self, dtype=None, copy=None):
        array = self.read_many(np.arange(len(self)))
        return array if dtype is None else array.astype(dtype)

    def _rows(self) -> np.ndarray:
        return np.arange(len(self)) if self.rows is None else self.rows


_OPEN: dict[str, tuple[int, int]] = {}  # cache file -> (file descriptor, where the pixels start)


def _cached_image(path: str, row: int, shape) -> np.ndarray:
    """One image of a cache .npy, read with pread: no memory map, so the pixels read
    stay in the OS page cache instead of counting in this process's memory."""
    if path not in _OPEN:
        with open(path, "rb") as f:
            version = np.lib.format.read_magic(f)
            (np.lib.format.read_array_header_1_0 if version == (1, 0) else np.lib.format.read_array_header_2_0)(f)
            _OPEN[path] = (os.open(path, os.O_RDONLY), f.tell())
    fd, start = _OPEN[path]
    size = int(np.prod(shape))
    data = os.pread(fd, size, start + row * size)
    if len(data) != size:
        raise DataError(f"cache file {path} is truncated; delete it and run again")
    return np.frombuffer(data, np.uint8).reshape(shape)


def check_files(files: list[Path]) -> list[bool]:
    """Cheap, parallel header check: PIL opens and verifies each file (no decoding), and
    a JPEG/PNG must end with its end marker (truncated downloads do not)."""
    with ThreadPoolExecutor(_THREADS) as pool:
        return list(pool.map(_looks_readable, files))


def _looks_readable(file: Path) -> bool:
    from PIL import Image

    try:
        with Image.open(file) as img:
            kind = img.format
            img.verify()
        if kind in _END_MARKERS:
            with open(file, "rb") as f:
                f.seek(max(0, file.stat().st_size - 64))
                if _END_MARKERS[kind] not in f.read():
                    return False
        return True
    except Exception:  # noqa: BLE001  PIL's plugins raise a zoo of exceptions for broken files
        return False


_END_MARKERS = {"JPEG": b"\xff\xd9", "PNG": b"IEND"}


def decoded_bytes(split: FileSplit) -> int:
    return int(np.prod(split.shape, dtype=np.int64))


def cache_key(paths, size, mode) -> str:
    """Names the decoded data: the files (path, size, mtime), the image size and mode."""
    h = hashlib.sha256(f"{CACHE_FORMAT}|{tuple(size)}|{mode}".encode())
    for p in paths:
        st = os.stat(p)
        h.update(f"\n{p}|{st.st_size}|{st.st_mtime_ns}".encode())
    return h.hexdigest()[:24]


def disk_cache(split: FileSplit, folder: Path) -> FileSplit:
    """`split` backed by a decoded .npy under `folder`: reused when the same files (same
    sizes and mtimes) come again, written (atomically) otherwise."""
    from cnnlab.runs import atomic_path

    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create data.cache_dir {str(folder)!r} ({exc.strerror}); choose a writable folder") from None
    target = folder / f"images-{cache_key(split.paths, split.size, split.mode)}.npy"
    if not target.is_file():
        header = {"descr": np.lib.format.dtype_to_descr(np.dtype(np.uint8)), "fortran_order": False, "shape": split.shape}
        with atomic_path(target) as tmp, open(tmp, "wb") as f:
            np.lib.format.write_array_header_2_0(f, header)
            chunks = (np.arange(start, min(start + 256, len(split))) for start in range(0, len(split), 256))
            f.writelines(split.read_many(rows).tobytes() for rows in chunks)  # memory: one chunk at a time
    return FileSplit(split.paths, split.labels, split.size, split.mode, str(target))
