"""Mixup (Zhang et al., ICLR 2018) for video batches: each clip is blended with its
neighbour in the batch, ``λ·x_i + (1 − λ)·x_{i−1}`` (every frame alike), and the target
becomes the same blend of the two one-hot labels, ``λ ~ Beta(alpha, alpha)`` per batch.

Why the project has it: it is the "consistent teaching" half of distillation recipes
(Beyer et al., CVPR 2022, "Knowledge distillation: A good teacher is patient and
consistent"). The teacher sees the same blended clip as the student, so its soft
targets say how much of each action *it* sees in that clip, which the λ-blend of two
labels does not; without the blend the teacher has memorised its own training clips and
its targets are nearly the labels. Measured in
:class:`helpers.compression.distillation.MotionStudent`'s docstring.

Why not ``torchvision.transforms.v2.MixUp``: it needs the class count before the forward
pass and draws λ from the global RNG. Here λ is a pure function of (seed, epoch, batch)
(a resumed run draws the same λs) and the targets take the logits' width. The partner is
the next clip in the batch (``roll(1)``), as in torchvision; batches are shuffled.
"""
from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F
from torch import Tensor


def mixup_lambda(alpha: float, seed: int, epoch: int, batch: int) -> float:
    """λ ~ Beta(alpha, alpha) for one batch, the same for the same (seed, epoch, batch)."""
    if alpha <= 0:
        raise ValueError(f"mixup alpha must be > 0, got {alpha}")
    return float(np.random.default_rng([seed, epoch, batch]).beta(alpha, alpha))


def mix_clips(video: Tensor, lam: float) -> Tensor:
    """``λ·video + (1 − λ)·video.roll(1, 0)`` over the batch dimension."""
    return video * lam + video.roll(1, 0) * (1.0 - lam)


def mixup_targets(labels: Tensor, lam: float, num_classes: int) -> Tensor:
    """(B, classes) soft targets matching :func:`mix_clips`: ``λ·onehot(y) + (1 − λ)·onehot(y.roll(1))``."""
    one_hot = F.one_hot(labels.long(), num_classes).float()
    return one_hot * lam + one_hot.roll(1, 0) * (1.0 - lam)
