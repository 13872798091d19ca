"""Tiny modules whose parameter counts, sizes and FLOPs can be worked out by hand."""
from __future__ import annotations

import torch
from torch import nn


class TwoLayer(nn.Module):
    """Two linear layers sharing one (transposed) weight, and a buffer."""

    def __init__(self):
        super().__init__()
        self.a = nn.Linear(64, 32)
        self.b = nn.Linear(32, 64, bias=False)
        self.b.weight = nn.Parameter(self.a.weight.t().contiguous())
        self.register_buffer("scale", torch.ones(10))

    def forward(self, x, unused=None):
        return self.b(self.a(x)) * self.scale[0]
