"""Decoded-clip cache on disk, so epochs after the first do not decode.

OFF by default (a dataset gets ``cache=None``): decoded clips are large — 16 frames at
128×171 are 1 MiB per clip, so one pass over HMDB51 (6,766 clips) is ~7 GiB — and
Kaggle's ``/kaggle/working`` holds 20 GB. Turn it on with
``HMDB51(..., cache=ClipCache(settings.cache_dir / "clips", max_bytes=4 << 30))``.

* Key: the clip's resolved path, byte size and mtime (so an edited or replaced file
  misses and is decoded again), the exact frame indices (so the sampler's parameters
  and its random draw are part of the key) and the decoded size. It therefore pays off
  for deterministic sampling (uniform, multi-clip eval, feature extraction); with
  random segment sampling every epoch draws new indices.
* Values: uint8 ``(T, H, W, 3)`` ``.npy`` files, read back exactly.
* Safe with several DataLoader workers: every write goes to a unique temporary file in
  the same folder and is renamed into place (``os.replace`` is atomic), so a reader
  sees a whole file or none; a damaged entry is deleted and counts as a miss.
* Bounded: when the total passes ``max_bytes``, the least recently used entries (hits
  refresh an entry's mtime) are deleted down to 90 % of it. Each process keeps a
  running total and rescans the folder when its estimate passes the bound, so with
  several workers the bound can be overshot by what they write between two scans.
"""
from __future__ import annotations

import hashlib
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np

from helpers.atomic import atomic_open

CACHE_VERSION = 1
SUFFIX = ".npy"


@dataclass
class CacheStats:
    hits: int = 0
    misses: int = 0
    writes: int = 0
    evictions: int = 0


def clip_key(
    path: str | Path,
    indices: Sequence[int] | np.ndarray,
    size: tuple[int, int] | None,
    *,
    file_size: int | None = None,
    mtime_ns: int | None = None,
    extra: str = "",
) -> str:
    """Hex key of one decoded clip. ``file_size``/``mtime_ns`` are read from disk when
    not given (``os.stat`` raises ``FileNotFoundError`` for a missing clip)."""
    p = Path(path).resolve()
    if file_size is None or mtime_ns is None:
        st = p.stat()
        file_size, mtime_ns = st.st_size, st.st_mtime_ns
    idx = np.asarray(indices, dtype=np.int64)
    h = hashlib.sha1()
    h.update(f"v{CACHE_VERSION}\0{p}\0{file_size}\0{mtime_ns}\0{size}\0{extra}\0".encode("utf-8", "surrogateescape"))
    h.update(idx.tobytes())
    return h.hexdigest()


@dataclass
class ClipCache:
    """A folder of decoded clips, bounded by ``max_bytes`` (see the module docstring)."""

    directory: Path
    max_bytes: int = 2 << 30
    stats: CacheStats = field(default_factory=CacheStats, compare=False)
    _estimate: int | None = field(default=None, init=False, repr=False, compare=False)
    _writes_since_scan: int = field(default=0, init=False, repr=False, compare=False)

    RESCAN_EVERY = 256  # writes between two full scans, bounding drift across workers

    def __post_init__(self) -> None:
        self.directory = Path(self.directory)
        if self.max_bytes <= 0:
            raise ValueError(f"max_bytes must be positive, got {self.max_bytes}")

    def __getstate__(self) -> dict:
        # workers start with fresh counters and their own size estimate
        return {"directory": self.directory, "max_bytes": self.max_bytes}

    def __setstate__(self, state: dict) -> None:
        self.directory = state["directory"]
        self.max_bytes = state["max_bytes"]
        self.stats = CacheStats()
        self._estimate = None
        self._writes_since_scan = 0

    # ---------------------------------------------------------------- paths
    def path_for(self, key: str) -> Path:
        return self.directory / key[:2] / f"{key}{SUFFIX}"

    def key(self, path: str | Path, indices: Sequence[int] | np.ndarray, size: tuple[int, int] | None) -> str:
        return clip_key(path, indices, size)

    # ---------------------------------------------------------------- get / put
    def get(self, key: str) -> np.ndarray | None:
        """The cached array, or None on a miss (a damaged entry is removed)."""
        target = self.path_for(key)
        try:
            arr = np.load(target, allow_pickle=False)
        except FileNotFoundError:
            self.stats.misses += 1
            return None
        except (OSError, ValueError, EOFError):
            _unlink(target)
            self.stats.misses += 1
            return None
        try:
            os.utime(target)  # recently used: evicted last
        except OSError:
            pass
        self.stats.hits += 1
        return arr

    def put(self, key: str, array: np.ndarray) -> Path:
        """Write atomically (unique temp file, then ``os.replace``) and keep the bound."""
        array = np.ascontiguousarray(array)
        target = self.path_for(key)
        with atomic_open(target, "wb") as fh:
            np.save(fh, array, allow_pickle=False)
        self.stats.writes += 1
        self._account(target.stat().st_size)
        return target

    # ---------------------------------------------------------------- size bound
    def entries(self) -> list[tuple[float, int, Path]]:
        """``(mtime, bytes, path)`` of every entry, oldest first."""
        out = []
        if not self.directory.is_dir():
            return out
        for sub in self.directory.iterdir():
            if not sub.is_dir():
                continue
            for f in sub.iterdir():
                if f.suffix != SUFFIX or f.name.startswith("."):
                    continue
                try:
                    st = f.stat()
                except FileNotFoundError:  # evicted by another worker meanwhile
                    continue
                out.append((st.st_mtime, st.st_size, f))
        out.sort(key=lambda e: (e[0], str(e[2])))
        return out

    def total_bytes(self) -> int:
        return sum(size for _, size, _ in self.entries())

    def _account(self, written: int) -> None:
        self._writes_since_scan += 1
        if self._estimate is None or self._writes_since_scan >= self.RESCAN_EVERY:
            self._estimate = self.total_bytes()
            self._writes_since_scan = 0
        else:
            self._estimate += written
        if self._estimate > self.max_bytes:
            self.evict(int(self.max_bytes * 0.9))

    def evict(self, target_bytes: int) -> int:
        """Delete oldest entries until the total is at most ``target_bytes``; returns
        how many were deleted."""
        entries = self.entries()
        total = sum(size for _, size, _ in entries)
        removed = 0
        for _, size, path in entries:
            if total <= target_bytes:
                break
            _unlink(path)
            total -= size
            removed += 1
        self.stats.evictions += removed
        self._estimate = total
        self._writes_since_scan = 0
        return removed

    def clear(self) -> None:
        for _, _, path in self.entries():
            _unlink(path)
        self._estimate = 0


def _unlink(path: Path) -> None:
    try:
        os.unlink(path)
    except FileNotFoundError:
        pass
