"""Measure what loading one clip costs, with and without the decoded-clip cache.

Reported, never asserted (timings depend on the machine); the notebook prints them and
``benchmarks/`` scripts turn them into JSON lines.
"""
from __future__ import annotations

import statistics
import time
from collections.abc import Iterable

from helpers.datasets.cache import ClipCache


def time_items(dataset, indices: Iterable[int]) -> list[float]:
    """Milliseconds ``dataset[i]`` took, for each ``i`` (failures are timed too)."""
    out = []
    for i in indices:
        t0 = time.perf_counter()
        dataset[i]
        out.append((time.perf_counter() - t0) * 1000.0)
    return out


def compare_load_times(dataset, cache: ClipCache, n: int = 8) -> dict[str, float]:
    """Median ms per clip for the first ``n`` items: decoded every time (``uncached``),
    first pass through an emptied ``cache`` (``cache_miss``: decode + write) and second
    pass (``cache_hit``). Use a deterministic sampler (eval/uniform) so both passes ask
    for the same frames. The dataset's own cache setting is restored afterwards."""
    indices = list(range(min(n, len(dataset))))
    if not indices:
        raise ValueError("the dataset is empty")
    saved = dataset.cache
    try:
        dataset.cache = None
        uncached = time_items(dataset, indices)
        cache.clear()
        dataset.cache = cache
        miss = time_items(dataset, indices)
        hit = time_items(dataset, indices)
    finally:
        dataset.cache = saved
    result = {
        "clips": float(len(indices)),
        "uncached_ms": statistics.median(uncached),
        "cache_miss_ms": statistics.median(miss),
        "cache_hit_ms": statistics.median(hit),
    }
    result["cache_speedup"] = result["uncached_ms"] / max(result["cache_hit_ms"], 1e-6)
    return result
