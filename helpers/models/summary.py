"""Notebook 03's summary table (parameters, in-memory MB, FLOPs per clip, latency: the
measurements of :mod:`helpers.measure`) and its two plots: a cross-attention heatmap
and the MoE routing histogram; notebook 04's pair of heatmaps (a clip with and without
its sound)."""
from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass

import torch
from torch import Tensor, nn

from helpers.measure import batch_size_of, count_flops, count_parameters, in_memory_size_mb, measure_latency

from .moe import RoutingInfo


@dataclass
class ModelSummary:
    """One row of a summary table. ``flops_per_clip`` and ``latency_ms`` are for the
    inputs given to :func:`summarize` (``batch_size`` clips per forward; latency is per
    forward, FLOPs are divided by the batch size)."""

    name: str
    params_total: int
    params_trainable: int
    size_mb: float
    flops_per_clip: float | None
    latency_ms: float | None
    batch_size: int
    input_shape: str
    device: str
    weights: str

    def as_row(self) -> dict:
        row = asdict(self)
        row["params_total_M"] = _sig(self.params_total / 1e6)
        row["params_trainable_M"] = _sig(self.params_trainable / 1e6)
        row["GFLOPs_per_clip"] = None if self.flops_per_clip is None else _sig(self.flops_per_clip / 1e9)
        return row


def _sig(x: float, digits: int = 4) -> float:
    """``x`` to ``digits`` significant figures (tiny smoke models stay non-zero)."""
    return float(f"{x:.{digits}g}")


def forward_kwargs(model: nn.Module, batch: Mapping) -> dict:
    """The entries of a Batches-contract dict that ``model.forward`` accepts by name
    (``video`` for model A; video, times, audio and masks for model B). A model without
    a readable signature (an ONNX Runtime session, a file's deployable view) gets ``video``."""
    import inspect

    try:
        params = inspect.signature(model.forward).parameters
    except (AttributeError, TypeError, ValueError):
        params = {}
    named = {k: v for k, v in batch.items() if k in params}
    return named or {"video": batch["video"]}


def clip_inputs(model: nn.Module, batch: Mapping, n: int = 1) -> dict:
    """``forward_kwargs`` of the first ``n`` clips of a batch: the input for "per clip"
    FLOPs and latency."""
    return {k: v[:n] for k, v in forward_kwargs(model, batch).items()}


def _to(inputs: Mapping, device: str) -> dict:
    return {k: v.to(device) if isinstance(v, Tensor) else v for k, v in inputs.items()}


def _weights(model: nn.Module) -> str:
    if hasattr(model, "weights_sources"):
        return ", ".join(f"{k}: {v}" for k, v in model.weights_sources.items())
    return str(getattr(model, "weights_source", "unknown"))


def summarize(model: nn.Module, inputs: Mapping, name: str | None = None, device: str | None = None,
              flops: bool = True, latency_runs: int = 3) -> ModelSummary:
    """Measure ``model`` on ``inputs`` (keyword arguments of its forward). The model is
    moved to ``device`` (default: where its parameters are) and left there;
    ``latency_runs=0`` skips timing, ``flops=False`` skips counting."""
    device = device or str(next(model.parameters()).device)
    model.to(device)
    inputs = _to(inputs, device)
    video = inputs.get("video")
    return ModelSummary(
        name=name or type(model).__name__,
        params_total=count_parameters(model),
        params_trainable=count_parameters(model, trainable_only=True),
        size_mb=round(in_memory_size_mb(model), 3),
        flops_per_clip=count_flops(model, inputs) if flops else None,
        latency_ms=round(measure_latency(model, inputs, device, warmup=2, runs=latency_runs).median_ms, 2)
        if latency_runs else None,
        batch_size=batch_size_of(inputs),
        input_shape="x".join(map(str, video.shape)) if isinstance(video, Tensor) else "",
        device=device,
        weights=_weights(model),
    )


def summary_table(summaries: Iterable[ModelSummary]):
    """A pandas DataFrame, one row per model, with readable units."""
    import pandas as pd

    cols = ["name", "params_total_M", "params_trainable_M", "size_mb", "GFLOPs_per_clip", "latency_ms",
            "batch_size", "input_shape", "device", "weights"]
    return pd.DataFrame([s.as_row() for s in summaries])[cols].set_index("name")


# ------------------------------------------------------------------------ plots
def _draw_attention(ax, w: Tensor, frame_times: Tensor | None, token_seconds: float | None,
                    vmax: float | None = None):
    """One (T, S) attention heatmap on ``ax``: frames down, audio time across."""
    extent = None
    if token_seconds is not None:
        extent = (0.0, w.shape[1] * token_seconds, w.shape[0] - 0.5, -0.5)
    im = ax.imshow(w.numpy(), aspect="auto", cmap="viridis", interpolation="nearest", extent=extent,
                   vmin=0.0 if vmax is not None else None, vmax=vmax)
    ax.set_xlabel("audio time (s)" if token_seconds else "audio token")
    ax.set_ylabel("frame")
    if frame_times is not None:
        ax.set_yticks(range(w.shape[0]))
        ax.set_yticklabels([f"{float(t):.2f}s" for t in frame_times.cpu()])
    return im


def _first_clip(weights: Tensor, frame_times: Tensor | None) -> tuple[Tensor, Tensor | None]:
    w = weights.detach().float().cpu()
    if w.dim() == 3:
        w = w[0]
    if frame_times is not None and frame_times.dim() == 2:
        frame_times = frame_times[0]
    return w, frame_times


def plot_cross_attention(weights: Tensor, frame_times: Tensor | None = None, token_seconds: float | None = None,
                         title: str = "video → audio cross-attention"):
    """Heatmap of one clip's attention (rows: video frames, columns: audio tokens).
    ``weights`` (T, S) or (B, T, S) (the first clip is drawn); rows are labelled with
    ``frame_times`` and the x axis is in seconds when ``token_seconds`` is given."""
    import matplotlib.pyplot as plt

    w, frame_times = _first_clip(weights, frame_times)
    fig, ax = plt.subplots(figsize=(7, 3.2), layout="constrained")
    im = _draw_attention(ax, w, frame_times, token_seconds)
    ax.set_title(title)
    fig.colorbar(im, ax=ax, label="attention weight")
    return fig


def plot_cross_attention_pair(weights: Sequence[Tensor], titles: Sequence[str], frame_times: Tensor | None = None,
                              token_seconds: float | None = None, title: str | None = None):
    """Two attention heatmaps side by side on one colour scale (e.g. one clip with its
    sound and with the audio masked), so that equal colours mean equal weights; each
    ``weights`` item is (T, S) or (B, T, S) (first clip). One colorbar for both."""
    import matplotlib.pyplot as plt

    if len(weights) != 2 or len(titles) != 2:
        raise ValueError(f"two attention maps and two titles, got {len(weights)} and {len(titles)}")
    maps = [_first_clip(w, frame_times) for w in weights]
    vmax = max(float(w.max()) for w, _ in maps) or 1.0
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.4), layout="constrained", sharey=True)
    for ax, (w, times), name in zip(axes, maps, titles):
        im = _draw_attention(ax, w, times, token_seconds, vmax=vmax)
        ax.set_title(name)
        if float(w.abs().max()) == 0.0:  # e.g. masked audio: say so rather than show a blank panel
            ax.text(0.5, 0.5, "every weight is 0", transform=ax.transAxes, ha="center", va="center", color="white")
    axes[1].set_ylabel("")
    fig.colorbar(im, ax=list(axes), label="attention weight")
    if title:
        fig.suptitle(title)
    return fig


def routing_totals(routings: RoutingInfo | Iterable[RoutingInfo]) -> tuple[Tensor, Tensor]:
    """(counts (N,), mean gate probability (N,)) summed/averaged over one or many batches."""
    items = [routings] if isinstance(routings, RoutingInfo) else list(routings)
    counts = sum(r.counts.detach().cpu() for r in items)
    probs = torch.cat([r.probs.detach().cpu() for r in items]).mean(0)
    return counts, probs


def plot_expert_routing(routings: RoutingInfo | Iterable[RoutingInfo], title: str = "MoE routing"):
    """Two panels: how many samples each expert received (top-k slots) and the mean
    gate probability per expert, with the uniform level drawn for reference."""
    import matplotlib.pyplot as plt

    counts, probs = routing_totals(routings)
    n = counts.numel()
    experts = list(range(n))
    fig, (ax1, ax2) = plt.subplots(1, 2, figsize=(8, 3), layout="constrained")
    ax1.bar(experts, counts.numpy(), color="tab:blue")
    ax1.axhline(float(counts.sum()) / n, color="k", ls="--", lw=1, label="uniform")
    ax1.set(xlabel="expert", ylabel="samples routed", title="routing counts (top-k)")
    ax1.legend()
    ax2.bar(experts, probs.numpy(), color="tab:orange")
    ax2.axhline(1.0 / n, color="k", ls="--", lw=1, label="uniform")
    ax2.set(xlabel="expert", ylabel="mean gate probability", title="gate probabilities")
    ax2.legend()
    for ax in (ax1, ax2):
        ax.set_xticks(experts)
    fig.suptitle(title)
    return fig
