"""Bidirectional cross-attention between the video and the audio token sequences.

Missing audio is *masked*, never zero-filled into the attention: for a clip without an
audio track the video→audio branch adds nothing (its update is multiplied by 0, so the
video tokens pass through unchanged = video-only), its attention weights are reported
as zeros, and the audio tokens are flagged invalid for everything downstream.
(Internally one key is left unmasked for such rows only so that the softmax has
something to normalise over — an all-masked row would give NaN in forward and
backward; the result is discarded.)
"""
from __future__ import annotations

from torch import Tensor, nn


class CrossAttentionBlock(nn.Module):
    """Pre-norm ``x + Attn(LN(x), LN(ctx))`` then ``x + FFN(LN(x))``; returns the
    head-averaged attention weights (B, Lx, Lctx)."""

    def __init__(self, dim: int, heads: int, dropout: float = 0.1) -> None:
        super().__init__()
        self.norm_q, self.norm_kv, self.norm_ff = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)
        self.attn = nn.MultiheadAttention(dim, heads, dropout=dropout, batch_first=True)
        self.ff = nn.Sequential(nn.Linear(dim, 4 * dim), nn.GELU(), nn.Dropout(dropout), nn.Linear(4 * dim, dim))

    def forward(self, x: Tensor, ctx: Tensor, ctx_pad: Tensor | None, keep: Tensor | None) -> tuple[Tensor, Tensor]:
        """ctx_pad (B, Lctx): True = ignore; keep (B,): False → return ``x`` unchanged."""
        if ctx_pad is not None:
            all_masked = ctx_pad.all(dim=1)
            ctx_pad = ctx_pad.clone()
            ctx_pad[all_masked, 0] = False  # see module docstring; zeroed below
        upd, weights = self.attn(self.norm_q(x), self.norm_kv(ctx), self.norm_kv(ctx), key_padding_mask=ctx_pad,
                                 need_weights=True, average_attn_weights=True)
        if keep is not None:
            k = keep.to(x.dtype).view(-1, 1, 1)
            upd, weights = upd * k, weights * k
        x = x + upd
        x = x + self.ff(self.norm_ff(x)) * (1.0 if keep is None else keep.to(x.dtype).view(-1, 1, 1))
        return x, weights


class BidirectionalCrossAttention(nn.Module):
    """video attends to audio and audio attends to video (``layers`` rounds).

    Inputs: video (B, Tv, D) with ``video_mask`` (B, Tv) True = valid frame; audio
    (B, Ta, D) with ``audio_mask`` (B,) True = the clip has audio. Returns updated video,
    updated audio and a dict of the last round's attention weights
    ``video_to_audio`` (B, Tv, Ta) and ``audio_to_video`` (B, Ta, Tv)."""

    def __init__(self, dim: int, heads: int = 4, layers: int = 1, dropout: float = 0.1) -> None:
        super().__init__()
        self.v2a = nn.ModuleList(CrossAttentionBlock(dim, heads, dropout) for _ in range(layers))
        self.a2v = nn.ModuleList(CrossAttentionBlock(dim, heads, dropout) for _ in range(layers))

    def forward(self, video: Tensor, audio: Tensor, video_mask: Tensor | None, audio_mask: Tensor
                ) -> tuple[Tensor, Tensor, dict[str, Tensor]]:
        b, ta = audio.shape[:2]
        audio_pad = (~audio_mask).view(b, 1).expand(b, ta)
        video_pad = None if video_mask is None else ~video_mask
        weights: dict[str, Tensor] = {}
        for v2a, a2v in zip(self.v2a, self.a2v):
            new_video, weights["video_to_audio"] = v2a(video, audio, audio_pad, audio_mask)
            audio, weights["audio_to_video"] = a2v(audio, video, video_pad, audio_mask)
            video = new_video
        return video, audio, weights
