"""Temporal models over per-frame features, positioned by *time in seconds* rather than
by index.

Why continuous time: the RL frame sampler (notebook 05) looks at a handful of frames at
times it chooses (e.g. 0.4 s, 2.9 s, 3.1 s). With index positions the model could not
tell those from three adjacent frames; with sinusoidal encodings of ``frame_times`` any
subset of frames, in any spacing, gets the right positions.
"""
from __future__ import annotations

import math
from typing import Literal

import torch
from torch import Tensor, nn


class ContinuousTimeEncoding(nn.Module):
    """Sinusoidal encoding of real-valued times (seconds): ``[sin(t w_j), cos(t w_j)]``
    with periods from ``min_period`` to ``max_period`` seconds, then a linear layer."""

    def __init__(self, dim: int, min_period: float = 0.1, max_period: float = 60.0) -> None:
        super().__init__()
        half = max(dim // 2, 1)
        periods = torch.logspace(math.log10(min_period), math.log10(max_period), half)
        self.register_buffer("omega", 2 * math.pi / periods, persistent=False)
        self.proj = nn.Linear(2 * half, dim)

    def forward(self, times: Tensor) -> Tensor:
        angles = times.unsqueeze(-1).float() * self.omega
        return self.proj(torch.cat([angles.sin(), angles.cos()], dim=-1))


def default_frame_times(batch: int, num_frames: int, fps: float, device=None) -> Tensor:
    """``t / fps`` for every frame index: the times to use when a batch has none."""
    return (torch.arange(num_frames, device=device, dtype=torch.float32) / fps).expand(batch, num_frames)


class TemporalEncoder(nn.Module):
    """(B, T, in_dim) frame features + (B, T) times → (B, T, dim) contextualised features.

    ``kind="transformer"``: pre-norm Transformer encoder; padded frames are excluded with
    ``src_key_padding_mask``. ``kind="lstm"``: bidirectional LSTM over the frames sorted by
    time (so the sampler may hand them over in any order); masked frames are sorted last
    and packed away, and outputs are returned in the input order.

    ``deltas=True`` adds, to each frame's input, a projection of its feature difference to
    the previous valid frame *in time* (zero for the first). Why: the classes of a motion
    dataset differ in how appearance changes (direction, rotation sense), and a 2D frame
    encoder sees one frame at a time; handing the change over directly is a motion cue
    the model need not first discover through attention (with and without it:
    ``benchmarks/RESULTS.md``, "Motion Dynamics Module").
    It works for any subset of frames in any order, as the RL sampler feeds them."""

    def __init__(self, in_dim: int, dim: int, kind: Literal["transformer", "lstm"] = "transformer",
                 layers: int = 2, heads: int = 4, dropout: float = 0.1, deltas: bool = False) -> None:
        super().__init__()
        self.kind = kind
        self.input = nn.Linear(in_dim, dim)
        self.delta = nn.Linear(in_dim, dim) if deltas else None
        self.time = ContinuousTimeEncoding(dim)
        if kind == "transformer":
            layer = nn.TransformerEncoderLayer(dim, heads, 4 * dim, dropout, batch_first=True, norm_first=True)
            self.body = nn.TransformerEncoder(layer, layers, enable_nested_tensor=False)
        elif kind == "lstm":
            self.body = nn.LSTM(dim, dim // 2, num_layers=layers, batch_first=True, bidirectional=True,
                                dropout=dropout if layers > 1 else 0.0)
        else:
            raise ValueError(f"temporal kind must be 'transformer' or 'lstm', got {kind!r}")
        self.norm = nn.LayerNorm(dim)

    def forward(self, feats: Tensor, times: Tensor, frame_mask: Tensor | None = None) -> Tensor:
        x = self.input(feats) + self.time(times)
        if self.delta is not None:
            x = x + self.delta(time_deltas(feats, times, frame_mask))
        if self.kind == "transformer":
            pad = None if frame_mask is None else ~frame_mask
            x = self.body(x, src_key_padding_mask=pad)
        else:
            order = times.masked_fill(~frame_mask, float("inf")) if frame_mask is not None else times
            perm = order.argsort(dim=1)
            inverse = perm.argsort(dim=1)
            x = x.gather(1, perm.unsqueeze(-1).expand_as(x))
            if frame_mask is not None:
                lengths = frame_mask.sum(1).clamp_min(1).cpu()
                packed = nn.utils.rnn.pack_padded_sequence(x, lengths, batch_first=True, enforce_sorted=False)
                x, _ = nn.utils.rnn.pad_packed_sequence(self.body(packed)[0], batch_first=True,
                                                        total_length=feats.shape[1])
            else:
                x = self.body(x)[0]
            x = x.gather(1, inverse.unsqueeze(-1).expand_as(x))
        return self.norm(x)


def time_deltas(feats: Tensor, times: Tensor, frame_mask: Tensor | None = None) -> Tensor:
    """(B, T, F): ``feats`` minus the features of the previous valid frame in time order
    (zeros for each clip's first valid frame and for masked frames), in the input order."""
    order = times.float() if frame_mask is None else times.float().masked_fill(~frame_mask, float("inf"))
    perm = order.argsort(dim=1, stable=True)
    inverse = perm.argsort(dim=1)
    idx = perm.unsqueeze(-1).expand_as(feats)
    s = feats.gather(1, idx)
    d = torch.cat([torch.zeros_like(s[:, :1]), s[:, 1:] - s[:, :-1]], dim=1)
    d = d.gather(1, inverse.unsqueeze(-1).expand_as(d))
    if frame_mask is not None:  # masked frames sort last: valid ones only subtract valid ones
        d = d * frame_mask.unsqueeze(-1).to(d.dtype)
    return d


def masked_mean(x: Tensor, mask: Tensor | None) -> Tensor:
    """Mean over dim 1 of (B, L, D) counting only ``mask`` (B, L) True positions; a row
    with no valid position gives zeros (never NaN)."""
    if mask is None:
        return x.mean(dim=1)
    m = mask.unsqueeze(-1).to(x.dtype)
    return (x * m).sum(1) / m.sum(1).clamp_min(1.0)
