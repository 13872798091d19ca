"""Model measurements, one function per meaning: parameters, in-memory size, size on
disk, FLOPs and latency. Every table in the project (notebook 03's summary, notebook
06's compression table, notebook 07's evaluation) calls these, so their numbers agree.

Sizes are in MB = 10⁶ bytes. Latency runs in eval mode under ``torch.inference_mode``:
warm-up runs are made and thrown away (first calls pay for allocation, cuDNN autotuning,
lazy init), CUDA is synchronised around each timed run so the clock measures the GPU's
work and not only the kernel launch. Several models given as a dict are timed
interleaved (round-robin in one run), so load from other processes hits them alike.

Depends only on torch and :mod:`helpers.settings`, so any subpackage may import it.
"""
from __future__ import annotations

import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from helpers.settings import within_budget


# ------------------------------------------------------------------ parameters
def count_parameters(model: Any, *, trainable_only: bool = False) -> int:
    """Parameters of a module, a shared (tied) tensor counted once. With
    ``trainable_only`` only those with ``requires_grad``; otherwise the packed int8
    weights of quantized conv/linear modules (kept outside ``parameters()``) count too.
    Anything that is not an ``nn.Module`` (an ONNX Runtime session) has 0."""
    if not isinstance(model, nn.Module):
        return 0
    seen = {id(p): p for p in model.parameters()}
    n = sum(p.numel() for p in seen.values() if p.requires_grad or not trainable_only)
    if not trainable_only:
        for m in model.modules():
            w = getattr(m, "weight", None)
            if callable(w) and not isinstance(m, torch.jit.ScriptModule):
                try:
                    n += w().numel()
                except Exception:  # noqa: BLE001 - not a packed-weight module
                    pass
    return n


# ----------------------------------------------------------------------- sizes
def in_memory_size_mb(model: nn.Module) -> float:
    """Bytes of the parameters and buffers (what a float state_dict holds, optimizer
    state excluded), shared tensors once, in MB."""
    tensors = {id(t): t for t in list(model.parameters()) + list(model.buffers())}
    return sum(t.numel() * t.element_size() for t in tensors.values()) / 1e6


def file_size_mb(path: str | Path) -> float:
    """Size of a file on disk in MB."""
    return Path(path).stat().st_size / 1e6


# ----------------------------------------------------------------------- FLOPs
def batch_size_of(inputs: Tensor | Mapping) -> int:
    """The leading dimension of the first tensor input (1 when there is none)."""
    values = [inputs] if isinstance(inputs, Tensor) else list(inputs.values())
    for v in values:
        if isinstance(v, Tensor) and v.dim() > 0:
            return int(v.shape[0])
    return 1


def count_flops(model: nn.Module, inputs: Mapping) -> float:
    """FLOPs of one forward of ``model(**inputs)`` divided by the batch size
    (``torch.utils.flop_counter.FlopCounterMode``: matmuls, convolutions and attention
    as 2 x multiply-adds; element-wise ops are not counted)."""
    from torch.utils.flop_counter import FlopCounterMode

    was_training = model.training
    model.eval()
    counter = FlopCounterMode(display=False)
    try:
        with torch.no_grad(), counter:
            model(**inputs)
    finally:
        model.train(was_training)
    return counter.get_total_flops() / batch_size_of(inputs)


# --------------------------------------------------------------------- latency
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


def measure_latency(model: Callable | Mapping[str, Callable], inputs: Tensor | Mapping[str, Any],
                    device: str = "cpu", *, warmup: int = 3, runs: int = 10,
                    threads: int | None = None) -> LatencyStats | dict[str, LatencyStats]:
    """Time ``model(inputs)`` (a tensor) or ``model(**inputs)`` (a mapping) ``warmup + runs``
    times; :class:`LatencyStats` of the last ``runs`` (both at most the step budget,
    :func:`helpers.settings.within_budget`). ``model`` may be a dict name → callable: the
    models are timed interleaved and a dict name → stats comes back. Modules run in eval
    mode (their mode is restored); ``threads`` sets torch's CPU threads for the run."""
    warmup, runs = within_budget(warmup), within_budget(runs)
    models = dict(model) if isinstance(model, Mapping) else {"model": model}
    if isinstance(inputs, Tensor):
        inputs = inputs.to(device)
        call = lambda fn: fn(inputs)  # noqa: E731
    else:
        inputs = {k: v.to(device) if isinstance(v, Tensor) else v for k, v in inputs.items()}
        call = lambda fn: fn(**inputs)  # noqa: E731
    modes = {k: m.training for k, m in models.items() if isinstance(m, nn.Module)}
    old_threads = torch.get_num_threads()
    times: dict[str, list[float]] = {k: [] for k in models}
    try:
        if threads:
            torch.set_num_threads(threads)
        for k in modes:
            models[k].eval()
        with torch.inference_mode():
            for _ in range(warmup + runs):
                for name, fn in models.items():
                    _sync(device)
                    start = time.perf_counter()
                    call(fn)
                    _sync(device)
                    times[name].append((time.perf_counter() - start) * 1e3)
    finally:
        torch.set_num_threads(old_threads)
        for k, training in modes.items():
            models[k].train(training)
    batch = batch_size_of(inputs)
    stats = {k: latency_stats(v, warmup=warmup, batch_size=batch) for k, v in times.items()}
    return stats if isinstance(model, Mapping) else stats["model"]
