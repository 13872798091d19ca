"""The subset-classifier interface (class probabilities from the frames looked at so
far) and the accuracy of classifying each clip from chosen positions. Its own module
so the samplers, the classifiers, the environment and the evaluation all import it
without importing each other."""
from __future__ import annotations

from typing import Protocol

import numpy as np

from helpers.rl.features import FeatureSet


class SubsetClassifier(Protocol):
    num_classes: int

    def predict_proba(self, features: np.ndarray, times: np.ndarray, mask: np.ndarray) -> np.ndarray: ...


def positions_correct(fs: FeatureSet, classifier: SubsetClassifier, positions: np.ndarray) -> np.ndarray:
    """(M,) bool: whether clip ``i`` is classified right from ``positions[i]`` (M, k)."""
    mask = np.zeros((fs.num_clips, fs.num_positions), bool)
    np.put_along_axis(mask, positions, True, axis=1)
    probs = classifier.predict_proba(fs.features, fs.times, mask)
    return probs.argmax(1) == fs.labels


def positions_accuracy(fs: FeatureSet, classifier: SubsetClassifier, positions: np.ndarray) -> float:
    """Top-1 accuracy when clip ``i`` is classified from ``positions[i]`` (M, k)."""
    return float(np.mean(positions_correct(fs, classifier, positions)))
