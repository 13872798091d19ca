"""Latency of a forward pass: warm-up runs are made and thrown away (first calls pay
for allocation, cuDNN autotuning, lazy init), CUDA is synchronised around each timed
run so the clock measures the GPU's work and not only the kernel launch."""
from __future__ import annotations

import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass

import numpy as np
import torch
from torch import nn

from helpers.settings import within_budget


@dataclass(frozen=True)
class LatencyStats:
    """Milliseconds per forward of ``batch_size`` clips (warm-up excluded)."""

    mean_ms: float
    median_ms: float
    p95_ms: float
    min_ms: float
    runs: int
    warmup: int
    batch_size: int

    @property
    def throughput(self) -> float:
        """Clips per second at the median latency."""
        return self.batch_size * 1000.0 / self.median_ms if self.median_ms > 0 else float("inf")

    def to_dict(self) -> dict[str, float]:
        d = asdict(self)
        d["throughput_clips_per_s"] = self.throughput
        return d


def latency_stats(times_ms: Sequence[float], warmup: int = 0, batch_size: int = 1) -> LatencyStats:
    """Statistics of ``times_ms`` after dropping its first ``warmup`` entries."""
    if warmup < 0:
        raise ValueError("warmup must be ≥ 0")
    kept = np.asarray(list(times_ms)[warmup:], dtype=np.float64)
    if kept.size == 0:
        raise ValueError(f"no timed runs left after {warmup} warm-up runs (got {len(times_ms)} times)")
    return LatencyStats(mean_ms=float(kept.mean()), median_ms=float(np.median(kept)),
                        p95_ms=float(np.percentile(kept, 95)), min_ms=float(kept.min()), runs=int(kept.size),
                        warmup=warmup, batch_size=batch_size)


def _sync(device: str) -> None:
    if str(device).startswith("cuda"):
        torch.cuda.synchronize(device)


def measure_latency(model: nn.Module, inputs: Mapping[str, torch.Tensor], device: str = "cpu", *,
                    warmup: int = 3, runs: int = 10) -> LatencyStats:
    """Time ``model(**inputs)`` ``warmup + runs`` times in eval mode; stats of the last ``runs``
    (both at most the step budget, :func:`helpers.settings.within_budget`)."""
    warmup, runs = within_budget(warmup), within_budget(runs)
    inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
    batch = next((int(v.shape[0]) for v in inputs.values() if isinstance(v, torch.Tensor) and v.dim()), 1)
    was_training = model.training
    model.eval()
    times = []
    try:
        with torch.inference_mode():
            for _ in range(warmup + runs):
                _sync(device)
                start = time.perf_counter()
                model(**inputs)
                _sync(device)
                times.append((time.perf_counter() - start) * 1e3)
    finally:
        model.train(was_training)
    return latency_stats(times, warmup=warmup, batch_size=batch)
