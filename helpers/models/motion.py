"""Motion Dynamics Module: features of what changes between adjacent time steps of a
backbone feature map, fused with the clip's appearance features.

Why differences: classes such as "move left" vs "move right" share every frame's
appearance; only ``f[t+1] - f[t]`` tells them apart. Differences are taken on
(channel-reduced) backbone feature maps rather than pixels, so they measure change of
learned content, not of lighting noise.

Zero in, zero out: the difference encoder has no biases and no normalisation with an
offset, so a static clip (identical feature maps over time) yields motion features that
are exactly zero, and the fusion then returns the appearance features unchanged.
The signed differences go through a temporal convolution, so reversing or shuffling
the frames changes the output (reversal flips the sign and the order of differences).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor, nn


@dataclass
class MotionOutput:
    """features: (B, out_dim) motion features; energy: (B,) mean |difference|,
    a cheap per-clip "how much moved" number for plots and tests."""

    features: Tensor
    energy: Tensor


def temporal_differences(x: Tensor) -> Tensor:
    """``x[:, :, t+1] - x[:, :, t]`` for a (B, C, T, H, W) map: (B, C, T-1, H, W).
    A single time step has no neighbour: the result is one all-zero step (no motion)."""
    if x.shape[2] < 2:
        return torch.zeros_like(x[:, :, :1])
    return x[:, :, 1:] - x[:, :, :-1]


class MotionDynamicsModule(nn.Module):
    """reduce (1x1x1 conv) → differences in time → spatial 3x3 conv → ReLU →
    temporal 3 conv → ReLU → global average pool → linear to ``out_dim``. All bias-free
    (see the module docstring for why)."""

    def __init__(self, in_channels: int, hidden: int = 64, out_dim: int = 512) -> None:
        super().__init__()
        self.reduce = nn.Conv3d(in_channels, hidden, kernel_size=1, bias=False)
        self.encode = nn.Sequential(
            nn.Conv3d(hidden, hidden, kernel_size=(1, 3, 3), padding=(0, 1, 1), bias=False),
            nn.ReLU(inplace=True),
            nn.Conv3d(hidden, hidden, kernel_size=(3, 1, 1), padding=(1, 0, 0), bias=False),
            nn.ReLU(inplace=True),
        )
        self.project = nn.Linear(hidden, out_dim, bias=False)

    def forward(self, feature_map: Tensor) -> MotionOutput:
        diff = temporal_differences(self.reduce(feature_map))
        pooled = self.encode(diff).mean(dim=(2, 3, 4))
        return MotionOutput(features=self.project(pooled), energy=diff.abs().mean(dim=(1, 2, 3, 4)))


class GatedResidualFusion(nn.Module):
    """``fused = appearance + sigmoid(W [appearance; motion]) * motion``.

    A gated residual: the gate decides per channel how much motion to add, and with
    zero motion the appearance features pass through unchanged (so a pretrained
    backbone's features are not disturbed at the start of fine-tuning)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gate = nn.Linear(2 * dim, dim)

    def forward(self, appearance: Tensor, motion: Tensor) -> Tensor:
        g = torch.sigmoid(self.gate(torch.cat([appearance, motion], dim=-1)))
        return appearance + g * motion
