"""The compression comparison table: accuracy and top-1 agreement with fp32 per model,
rows with ratios against fp32, and the trade-off plot. Parameters, sizes and latency
are measured by :mod:`helpers.measure`."""
from __future__ import annotations

from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from typing import Any

import torch
from torch import Tensor, nn

from .deploy import logits_of


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
