"""A toy problem with a known answer, for the RL tests: only
one candidate position carries the label; every other frame is noise. An agent that
learns should look there first and stop."""
from __future__ import annotations

import numpy as np

from helpers.rl.features import FeatureSet


def make_toy_features(num_clips: int = 60, num_positions: int = 8, num_classes: int = 3,
                      informative: int = 5, feature_dim: int = 4, seed: int = 0) -> FeatureSet:
    """Feature 0 of frame ``informative`` is ``label + 1``; everything else is small noise
    (feature 0 stays 0 elsewhere). No audio; the motion preview peaks (1.0) at the
    informative frame, the others below 0.5."""
    rng = np.random.default_rng(seed)
    labels = rng.integers(0, num_classes, size=num_clips)
    feats = rng.normal(0, 0.1, size=(num_clips, num_positions, feature_dim)).astype(np.float32)
    feats[:, :, 0] = 0.0
    feats[:, informative, 0] = labels + 1
    times = np.tile(np.arange(num_positions, dtype=np.float32) / 2.0, (num_clips, 1))
    motion = (rng.random((num_clips, num_positions)) * 0.5).astype(np.float32)
    motion[:, informative] = 1.0
    return FeatureSet(feats, times, np.tile(np.arange(num_positions), (num_clips, 1)).astype(np.int64),
                      labels.astype(np.int64), np.zeros((num_clips, num_positions), np.float32),
                      np.zeros(num_clips, bool), np.full((num_clips, 2), -1, np.int64),
                      [f"toy_{i}" for i in range(num_clips)], [f"class_{c}" for c in range(num_classes)],
                      {"informative": informative}, motion)


class ToyClassifier:
    """Probability ``confidence`` on the class written in any looked-at frame's feature 0,
    the rest spread evenly; uniform when no such frame was seen (never reads labels)."""

    def __init__(self, num_classes: int = 3, confidence: float = 0.9) -> None:
        self.num_classes, self.confidence = num_classes, confidence

    def predict_proba(self, features: np.ndarray, times: np.ndarray, mask: np.ndarray) -> np.ndarray:
        c = self.num_classes
        probs = np.full((len(features), c), 1.0 / c)
        code = np.where(np.asarray(mask, bool), features[..., 0], 0.0).max(axis=1)
        seen = code > 0.5
        probs[seen] = (1 - self.confidence) / (c - 1)
        probs[seen, np.round(code[seen]).astype(int) - 1] = self.confidence
        return probs
