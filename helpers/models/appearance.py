"""The colours on screen, as two tokens for the caption decoder.

A frame encoder trained from random weights for a few epochs on an action objective keeps
little colour: nothing in that objective asks for it (a pretrained encoder keeps it). A
caption, though, names the object's colour and the background's. :class:`ColourHistogram`
reads them from the pixels directly: two joint RGB histograms of the clip's real frames
(``bins`` levels per channel, ``bins³`` cells), one of every pixel (the scene, mostly its
background) and one of the pixels that differ from the clip's temporal median (what moves:
the median over time is the classic background estimate), each square-rooted so large
cells do not drown small ones, then a small MLP each: two tokens, the scene and what moves,
so the decoder can read the background's colour from one and the object's from the other.
With ``size`` the histograms count every n-th pixel of each row and column, at most
``size`` a side: a subsample keeps the pixels' own colours (an average would blend them),
and 16 frames of 28×28 pixels fill 64 cells as well as 112×112 do, for a sixteenth of the
temporal median's work.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .backbones import KINETICS_MEAN, KINETICS_STD, renormalize


class ColourHistogram(nn.Module):
    """(B, 3, T, H, W) Kinetics-normalised video → (B, 2, dim) colour tokens (the scene,
    what moves)."""

    def __init__(self, dim: int, bins: int = 4, size: int = 0) -> None:
        super().__init__()
        if bins < 2:
            raise ValueError(f"bins must be ≥ 2, got {bins}")
        self.bins, self.size = bins, size
        cells = bins ** 3
        self.scene, self.moving = (nn.Sequential(nn.LayerNorm(cells), nn.Linear(cells, dim), nn.GELU(),
                                                 nn.Linear(dim, dim)) for _ in range(2))

    @torch.no_grad()
    def histograms(self, video: Tensor, frame_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
        """Two (B, bins³) shares of the real frames' pixels (subsampled to ``size``) per RGB cell: every pixel
        counted once (rows sum to 1), and each pixel weighted by its distance from the
        clip's temporal median (rows sum to 1, or to 0 for a still clip)."""
        if self.size and max(video.shape[-2:]) > self.size:
            step = -(-max(video.shape[-2:]) // self.size)
            video = video[..., ::step, ::step]
        b, _, t, h, w = video.shape
        pixels = renormalize(video.float(), KINETICS_MEAN, KINETICS_STD).clamp(0.0, 1.0 - 1e-6)
        level = (pixels * self.bins).long()  # (B, 3, T, H, W) in [0, bins)
        cell = ((level[:, 0] * self.bins + level[:, 1]) * self.bins + level[:, 2]).reshape(b, -1)
        real = torch.ones(b, t, 1, 1, device=video.device) if frame_mask is None else \
            frame_mask.to(pixels.dtype)[:, :, None, None]
        moving = (pixels - _real_median(pixels, frame_mask)).abs().sum(1)  # (B, T, H, W)
        out = []
        for weight in (real.expand(b, t, h, w), moving * real):
            counts = torch.zeros(b, self.bins ** 3, device=video.device).scatter_add_(1, cell, weight.reshape(b, -1))
            out.append(counts / counts.sum(1, keepdim=True).clamp_min(1e-6))
        return out[0], out[1]

    def histogram(self, video: Tensor, frame_mask: Tensor | None = None, moving: bool = False) -> Tensor:
        """One of :meth:`histograms`: the scene's, or (``moving``) what moves."""
        return self.histograms(video, frame_mask)[int(moving)]

    def forward(self, video: Tensor, frame_mask: Tensor | None = None) -> Tensor:
        scene, moving = (h.sqrt() for h in self.histograms(video, frame_mask))
        return torch.stack([self.scene(scene), self.moving(moving)], dim=1)


def _real_median(pixels: Tensor, frame_mask: Tensor | None) -> Tensor:
    """(B, 3, 1, H, W) temporal median of each clip's real frames (padding would pull it
    towards the padded value)."""
    if frame_mask is None or bool(frame_mask.all()):
        return pixels.median(dim=2, keepdim=True).values
    return torch.stack([pixels[i][:, frame_mask[i]].median(dim=1, keepdim=True).values if bool(frame_mask[i].any())
                        else pixels[i, :, :1] for i in range(pixels.shape[0])])
