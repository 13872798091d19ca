"""Measurements that put compressed models side by side: parameters, size on disk,
median CPU latency per clip (all models timed interleaved, round-robin, in one run, so
load from other processes hits them alike), accuracy and top-1 agreement with fp32."""
from __future__ import annotations

import statistics
import tempfile
import time
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from helpers.settings import within_budget

from .deploy import logits_of


def count_parameters(model: Any) -> int:
    """Parameters of a module (int8 packed weights of quantized modules included)."""
    if isinstance(model, nn.Module):
        n = sum(p.numel() for p in model.parameters())
        for m in model.modules():  # quantized conv/linear keep weights outside parameters()
            w = getattr(m, "weight", None)
            if callable(w) and not isinstance(m, torch.jit.ScriptModule):
                try:
                    n += w().numel()
                except Exception:  # noqa: BLE001 - not a packed-weight module
                    pass
        return n
    return 0


def file_size_mb(path: str | Path) -> float:
    """Size on disk in MB (10⁶ bytes)."""
    return Path(path).stat().st_size / 1e6


def model_size_mb(model: nn.Module) -> float:
    """Size of the state dict as ``torch.save`` writes it (MB = 10⁶ bytes)."""
    with tempfile.TemporaryDirectory() as d:
        p = Path(d) / "m.pt"
        torch.save(model.state_dict(), p)
        return file_size_mb(p)


def median_latency_ms(models: dict[str, Callable[[Tensor], Any]], example: Tensor, *, repeats: int = 5,
                      warmup: int = 1, threads: int = 2) -> dict[str, float]:
    """Median wall time (ms) of one forward on ``example`` per model, interleaved (warm-up
    and repeats at most the step budget, :func:`helpers.settings.within_budget`)."""
    warmup, repeats = within_budget(warmup), within_budget(repeats)
    old = torch.get_num_threads()
    torch.set_num_threads(threads)
    times: dict[str, list[float]] = {k: [] for k in models}
    try:
        with torch.inference_mode():
            for _ in range(warmup):
                for fn in models.values():
                    fn(example)
            for _ in range(repeats):
                for name, fn in models.items():
                    t = time.perf_counter()
                    fn(example)
                    times[name].append((time.perf_counter() - t) * 1000)
    finally:
        torch.set_num_threads(old)
    return {k: statistics.median(v) for k, v in times.items()}


@torch.inference_mode()
def predict(model: Callable[[Tensor], Any], loader: Iterable[dict[str, Any]]) -> tuple[Tensor, Tensor]:
    """(predicted class, label) over a loader of Batches-contract dicts."""
    if isinstance(model, nn.Module):
        model.eval()
    preds, labels = [], []
    for batch in loader:
        preds.append(logits_of(model(batch["video"])).argmax(-1).cpu())
        labels.append(batch["label"].cpu())
    return torch.cat(preds), torch.cat(labels)


def top1_agreement(a: Tensor, b: Tensor) -> float:
    return float((a == b).float().mean())


@dataclass
class CompressionRow:
    """One model in the comparison table (ratios are filled against the fp32 row)."""

    model: str
    accuracy: float
    top1_agreement: float
    params: int
    size_mb: float
    latency_ms: float
    speedup: float = 1.0
    size_ratio: float = 1.0
    accuracy_drop: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        d = asdict(self)
        d.update(d.pop("extra"))
        return d


def fill_ratios(rows: list[CompressionRow], reference: str = "fp32") -> list[CompressionRow]:
    ref = next(r for r in rows if r.model == reference)
    for r in rows:
        r.speedup = ref.latency_ms / r.latency_ms if r.latency_ms else 0.0
        r.size_ratio = r.size_mb / ref.size_mb if ref.size_mb else 0.0
        r.accuracy_drop = ref.accuracy - r.accuracy
    return rows


def compression_table(rows: list[CompressionRow]):
    """A pandas DataFrame of the rows (for display)."""
    import pandas as pd

    return pd.DataFrame([r.to_dict() for r in rows]).set_index("model")


def plot_tradeoff(rows: list[CompressionRow]):
    """Latency vs accuracy, marker area ∝ size on disk: the trade-off frontier."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 4.5))
    biggest = max(r.size_mb for r in rows) or 1.0
    for r in rows:
        ax.scatter(r.latency_ms, r.accuracy, s=40 + 600 * r.size_mb / biggest, alpha=0.6)
        ax.annotate(f"{r.model}\n{r.size_mb:.1f} MB", (r.latency_ms, r.accuracy), fontsize=7,
                    textcoords="offset points", xytext=(4, 4))
    ax.set_xscale("log")
    ax.set_xlabel("median CPU latency per clip (ms, log scale)")
    ax.set_ylabel("test accuracy")
    ax.set_title("compression trade-off (marker area ∝ size on disk)")
    ax.grid(alpha=0.3)
    fig.tight_layout()
    return fig
