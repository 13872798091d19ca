"""The colours on screen, as one token for the caption decoder.

A frame encoder trained from random weights for a few epochs on an action objective keeps
little colour: nothing in that objective asks for it (a pretrained encoder keeps it). A
caption, though, names the object's colour and the background's. :class:`ColourHistogram`
reads them from the pixels directly: two joint RGB histograms of the clip's real frames
(``bins`` levels per channel, ``bins³`` cells), one of every pixel (the scene, mostly its
background) and one of the pixels that differ from the clip's temporal median (what moves:
the median over time is the classic background estimate), each square-rooted so large
cells do not drown small ones, then a small MLP each: two tokens, the scene and what moves,
so the decoder can read the background's colour from one and the object's from the other.
"""
from __future__ import annotations

import torch
from torch import Tensor, nn

from .backbones import KINETICS_MEAN, KINETICS_STD


class ColourHistogram(nn.Module):
    """(B, 3, T, H, W) Kinetics-normalised video → (B, 2, dim) colour tokens (the scene,
    what moves)."""

    def __init__(self, dim: int, bins: int = 4) -> None:
        super().__init__()
        if bins < 2:
            raise ValueError(f"bins must be ≥ 2, got {bins}")
        self.bins = bins
        self.register_buffer("mean", torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1, 1), persistent=False)
        self.register_buffer("std", torch.tensor(KINETICS_STD).view(1, 3, 1, 1, 1), persistent=False)
        cells = bins ** 3
        self.scene, self.moving = (nn.Sequential(nn.LayerNorm(cells), nn.Linear(cells, dim), nn.GELU(),
                                                 nn.Linear(dim, dim)) for _ in range(2))

    @torch.no_grad()
    def histogram(self, video: Tensor, frame_mask: Tensor | None = None, moving: bool = False) -> Tensor:
        """(B, bins³) share of the real frames' pixels in each RGB cell (rows sum to 1, or
        to 0 when nothing is counted). ``moving``: each pixel weighs its distance from the
        clip's temporal median (a still clip counts nothing)."""
        b, _, t, h, w = video.shape
        pixels = (video.float() * self.std + self.mean).clamp(0.0, 1.0 - 1e-6)
        level = (pixels * self.bins).long()  # (B, 3, T, H, W) in [0, bins)
        cell = (level[:, 0] * self.bins + level[:, 1]) * self.bins + level[:, 2]  # (B, T, H, W)
        weight = torch.ones(b, t, h, w, device=video.device)
        if moving:
            weight = (pixels - pixels.median(dim=2, keepdim=True).values).abs().sum(1)
        if frame_mask is not None:
            weight = weight * frame_mask.to(weight.dtype)[:, :, None, None]
        counts = torch.zeros(b, self.bins ** 3, device=video.device)
        counts.scatter_add_(1, cell.reshape(b, -1), weight.reshape(b, -1))
        return counts / counts.sum(1, keepdim=True).clamp_min(1e-6)

    def forward(self, video: Tensor, frame_mask: Tensor | None = None) -> Tensor:
        scene, moving = (self.histogram(video, frame_mask, m).sqrt() for m in (False, True))
        return torch.stack([self.scene(scene), self.moving(moving)], dim=1)
