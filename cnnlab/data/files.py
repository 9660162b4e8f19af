"""Image folders that stay on disk: a split is a list of files, decoded when a batch needs them.

`FileSplit` stands where an (N, H, W, C) uint8 array stands in `Dataset` (len, shape,
indexing all work), so evaluation and plots keep working; training reads it through
`cnnlab.data.pipeline.make_pipeline`, which decodes in parallel inside tf.data.

Caching (`data.cache`): `memory` decodes everything once into an array (today's
behaviour); `disk` decodes once into a cache file under `data.cache_dir` named by a
hash of the file list, sizes and mtimes (so later runs of the same folder reuse it and
any changed file makes a new one) and reads it image by image; `none` decodes every
epoch. A file of fixed-size rows rather than a tf.data cache file: tf.data's cache
fixes the element order, so shuffling after it would need a shuffle buffer of every
image (memory in the dataset's size again) and a different order from the in-memory
pipeline; with rows read by index the pipeline still shuffles indices, as for arrays.

A cache file is a header (CACHE_MAGIC, then JSON: its key, shape, and a CRC-32 of every
chunk of CHUNK_ROWS images) followed by the pixels. A file whose header does not name
the expected key or shape, or is cut short, is decoded again with one warning; a chunk
whose pixels do not match its CRC (checked on its first read) is decoded from the image
files instead, with one warning. Wrong pixels are never fed silently.
"""

from __future__ import annotations

import hashlib
import json
import os
import sys
import threading
import zlib
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from cnnlab.data.images import allow_large_images, decode_image
from cnnlab.errors import DataError, printable

AUTO_MEMORY_LIMIT = 1 << 30  # data.cache auto: decoded data under 1 GB stays in memory
CACHE_FORMAT = 2  # bump when decode_image's output or the file layout changes (2: header with key and CRCs)
CACHE_MAGIC = b"CNNLAB-IMAGE-CACHE\n"
CACHE_SUFFIX = ".cache"
CHUNK_ROWS = 256  # images per checksummed chunk
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
            cached = _cached_image(self.cache_file, int(self._rows()[i]), self.shape[1:])
            if cached is not None:
                return cached
        try:
            return decode_image(self.paths[i], self.mode, self.size)
        except DataError as exc:
            print(f"Warning: {printable(self.paths[i])}: {exc}; used a black image instead", file=sys.stderr)
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


class _CacheFile:
    """An open cache file: descriptor, where the pixels start, and which chunks were checked."""

    def __init__(self, path: str, header: dict, start: int):
        self.path, self.start = path, start
        self.crcs = header["crc32"]
        self.rows = int(header.get("shape", [0])[0])
        self.fd = os.open(path, os.O_RDONLY)
        self.good: set[int] = set()
        self.bad: set[int] = set()
        self.lock = threading.Lock()


_OPEN: dict[str, _CacheFile] = {}


def _read_header(path) -> tuple[dict, int] | None:
    """(header, where the pixels start) of a cache file, or None when it is not one."""
    try:
        with open(path, "rb") as f:
            if f.read(len(CACHE_MAGIC)) != CACHE_MAGIC:
                return None
            length = int.from_bytes(f.read(8), "little")
            if not 0 < length < 1 << 26:
                return None
            header = json.loads(f.read(length).decode("utf-8"))
            if not isinstance(header, dict) or not isinstance(header.get("crc32"), list):
                return None
            return header, len(CACHE_MAGIC) + 8 + length
    except (OSError, ValueError, UnicodeDecodeError):
        return None


def _cached_image(path: str, row: int, shape) -> np.ndarray | None:
    """One image of a cache file, read with pread: no memory map, so the pixels read stay
    in the OS page cache instead of counting in this process's memory. None when its
    chunk does not match its checksum (the caller decodes the image file instead)."""
    cache = _OPEN.get(path)
    if cache is None:
        found = _read_header(path)
        if found is None:
            return None
        cache = _OPEN.setdefault(path, _CacheFile(path, *found))
    size = int(np.prod(shape))
    chunk = row // CHUNK_ROWS
    if chunk not in cache.good:
        with cache.lock:
            if chunk not in cache.good and chunk not in cache.bad:
                first = chunk * CHUNK_ROWS * size
                length = max(0, min(CHUNK_ROWS, cache.rows - chunk * CHUNK_ROWS)) * size
                data = os.pread(cache.fd, length, cache.start + first)
                ok = chunk < len(cache.crcs) and len(data) == length and zlib.crc32(data) == cache.crcs[chunk]
                (cache.good if ok else cache.bad).add(chunk)
                if not ok and len(cache.bad) == 1:
                    print(f"Warning: cache file {path} does not match its checksums (changed or damaged); "
                          "decoding those images from their files again", file=sys.stderr)  # fmt: skip
    if chunk in cache.bad:
        return None
    data = os.pread(cache.fd, size, cache.start + row * size)
    return np.frombuffer(data, np.uint8).reshape(shape) if len(data) == size else None


def check_files(files: list[Path]) -> list[bool]:
    """Cheap, parallel header check: PIL opens and verifies each file (no decoding), and
    a JPEG/PNG must end with its end marker (truncated downloads do not)."""
    with ThreadPoolExecutor(_THREADS) as pool:
        return list(pool.map(_looks_readable, files))


def _looks_readable(file: Path) -> bool:
    from PIL import Image

    allow_large_images()  # a 108-megapixel photo is an image, not a bomb
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
    """`split` backed by a decoded cache file under `folder`: reused when the same files
    (same sizes and mtimes) come again and its header says so, written (atomically) otherwise."""
    folder = Path(folder).expanduser()
    try:
        folder.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise DataError(f"cannot create data.cache_dir {str(folder)!r} ({exc.strerror}); choose a writable folder") from None
    key = cache_key(split.paths, split.size, split.mode)
    target = folder / f"images-{key}{CACHE_SUFFIX}"
    if target.exists():
        problem = _cache_problem(target, key, split.shape)
        if problem is None:
            return FileSplit(split.paths, split.labels, split.size, split.mode, str(target))
        print(f"Warning: cache file {target} {problem}; decoding the images again", file=sys.stderr)
        _OPEN.pop(str(target), None)
    try:
        _write_cache(split, target, key)
    except OSError as exc:
        raise DataError(f"cannot write the image cache in data.cache_dir {str(folder)!r} ({exc.strerror or exc}); "
                        "choose a writable folder with free space, or set data.cache: none") from None  # fmt: skip
    return FileSplit(split.paths, split.labels, split.size, split.mode, str(target))


def _cache_problem(path: Path, key: str, shape) -> str | None:
    """Why the cache file at ``path`` cannot be used for ``key`` and ``shape`` (None: it can)."""
    found = _read_header(path)
    if found is None:
        return "is not a cnnlab image cache (damaged or replaced)"
    header, start = found
    if header.get("key") != key or list(header.get("shape", [])) != list(shape):
        return "was made for other images (its header names another key or shape)"
    chunks = -(-shape[0] // CHUNK_ROWS)
    if len(header["crc32"]) != chunks:
        return "has a damaged header"
    try:
        if path.stat().st_size != start + int(np.prod(shape, dtype=np.int64)):
            return "is cut short or has extra bytes"
    except OSError:
        return "cannot be read"
    return None


def _write_cache(split: FileSplit, target: Path, key: str) -> None:
    from cnnlab.runs import atomic_path

    chunks = -(-len(split) // CHUNK_ROWS)
    # The header's size is fixed before the pixels are written (CRCs are 10 digits at most).
    reserve = 200 + len(key) + len(str(split.shape)) + 12 * chunks

    def header(crcs) -> bytes:
        text = json.dumps({"format": CACHE_FORMAT, "key": key, "shape": list(split.shape), "chunk_rows": CHUNK_ROWS,
                           "crc32": crcs}).encode()  # fmt: skip
        return CACHE_MAGIC + reserve.to_bytes(8, "little") + text.ljust(reserve)

    with atomic_path(target) as tmp, open(tmp, "wb") as f:
        f.write(header([0] * chunks))
        crcs = []
        for start in range(0, len(split), CHUNK_ROWS):  # memory: one chunk at a time
            data = split.read_many(np.arange(start, min(start + CHUNK_ROWS, len(split)))).tobytes()
            crcs.append(zlib.crc32(data))
            f.write(data)
        f.seek(0)
        f.write(header(crcs))
