"""What turns "the frames looked at so far" into class probabilities.

Two implementations of one small interface (``predict_proba(features (B,K,F),
times (B,K), mask (B,K)) -> (B,C)`` numpy):

* :class:`ModelHeadClassifier` — the trained ``MultiModalVideoModel``'s own temporal
  Transformer + classifier run on cached frame features (``frame_features=``) at the
  chosen times, without audio. This is the classifier the issue asks for.
* :class:`FeatureHead` — a small head (projection + time encoding + one Transformer
  layer + masked mean) trained on the cached features with random subsets of 1…N
  frames. Why offer it: a model trained on 8 uniform frames has never seen 1–3
  frames at arbitrary times; a head trained on subsets is calibrated for exactly what
  the sampler feeds it, for a few seconds of CPU.

Zero frames give the uniform prior (nothing seen, nothing known).
"""
from __future__ import annotations

from typing import Protocol

import numpy as np
import torch
from torch import nn


class SubsetClassifier(Protocol):
    num_classes: int

    def predict_proba(self, features: np.ndarray, times: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


def _uniform_rows(probs: np.ndarray, mask: np.ndarray) -> np.ndarray:
    empty = ~mask.any(axis=1)
    if empty.any():
        probs[empty] = 1.0 / probs.shape[1]
    return probs


class ModelHeadClassifier:
    """The trained multi-modal model's temporal head over the chosen frames."""

    def __init__(self, model: nn.Module) -> None:
        self.model = model.eval()
        self.num_classes = int(model.config.num_classes)

    @torch.no_grad()
    def predict_proba(self, features: np.ndarray, times: np.ndarray, mask: np.ndarray) -> np.ndarray:
        mask = np.asarray(mask, bool)
        f = torch.as_tensor(features, dtype=torch.float32)
        t = torch.as_tensor(times, dtype=torch.float32)
        m = torch.as_tensor(mask)
        m_safe = m.clone()
        m_safe[~m.any(1), 0] = True  # a fully padded row would give NaN attention
        logits = self.model(frame_features=f, frame_times=t, frame_mask=m_safe)["logits"]
        return _uniform_rows(torch.softmax(logits.float(), -1).numpy().astype(np.float64), mask)


class FeatureHead(nn.Module):
    """Subset classifier trained on cached features (see the module docstring)."""

    def __init__(self, feature_dim: int, num_classes: int, dim: int = 64, heads: int = 4) -> None:
        super().__init__()
        from helpers.models.temporal import ContinuousTimeEncoding

        self.num_classes = num_classes
        self.norm_in = nn.LayerNorm(feature_dim)
        self.proj = nn.Linear(feature_dim, dim)
        self.time = ContinuousTimeEncoding(dim)
        layer = nn.TransformerEncoderLayer(dim, heads, 2 * dim, 0.1, batch_first=True, norm_first=True)
        self.body = nn.TransformerEncoder(layer, 1, enable_nested_tensor=False)
        self.out = nn.Sequential(nn.LayerNorm(dim), nn.Linear(dim, num_classes))

    def forward(self, features: torch.Tensor, times: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        x = self.proj(self.norm_in(features)) + self.time(times)
        m_safe = mask.clone()
        m_safe[~mask.any(1), 0] = True
        x = self.body(x, src_key_padding_mask=~m_safe)
        w = m_safe.unsqueeze(-1).float()
        return self.out((x * w).sum(1) / w.sum(1))

    @torch.no_grad()
    def predict_proba(self, features: np.ndarray, times: np.ndarray, mask: np.ndarray) -> np.ndarray:
        self.eval()
        mask = np.asarray(mask, bool)
        logits = self(torch.as_tensor(features, dtype=torch.float32), torch.as_tensor(times, dtype=torch.float32),
                      torch.as_tensor(mask))
        return _uniform_rows(torch.softmax(logits, -1).numpy().astype(np.float64), mask)


def random_subset_masks(batch: int, n: int, max_k: int, rng: np.random.Generator) -> np.ndarray:
    """(batch, n) masks with 1…max_k frames each (sizes uniform, positions random)."""
    sizes = rng.integers(1, max_k + 1, size=batch)
    scores = rng.random((batch, n))
    ranks = scores.argsort(1).argsort(1)
    return ranks < sizes[:, None]


def train_feature_head(fs, *, epochs: int = 200, batch_size: int = 64, max_frames: int | None = None,
                       dim: int = 64, lr: float = 2e-3, seed: int = 0, progress: bool = True) -> FeatureHead:
    """Fit a :class:`FeatureHead` on a training :class:`~helpers.rl.features.FeatureSet`:
    each step draws clips and a random subset of their candidates."""
    from tqdm.auto import trange

    torch.manual_seed(seed)
    rng = np.random.default_rng(seed)
    n = fs.num_positions
    head = FeatureHead(fs.feature_dim, len(fs.classes), dim)
    opt = torch.optim.AdamW(head.parameters(), lr=lr, weight_decay=1e-2)
    feats = torch.as_tensor(fs.features)
    times = torch.as_tensor(fs.times)
    labels = torch.as_tensor(fs.labels)
    steps = max(1, epochs * int(np.ceil(fs.num_clips / batch_size)))
    head.train()
    for _ in trange(steps, desc="feature head", disable=not progress, leave=False):
        idx = torch.as_tensor(rng.integers(0, fs.num_clips, size=batch_size))
        mask = torch.as_tensor(random_subset_masks(batch_size, n, max_frames or n, rng))
        loss = nn.functional.cross_entropy(head(feats[idx], times[idx], mask), labels[idx])
        opt.zero_grad()
        loss.backward()
        opt.step()
    return head.eval()
