"""Samplers at equal budgets and the frames-saved ratio."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.rl.baselines import (SAMPLERS, energy_positions, oracle_orders, sampler_positions,
                                  uniform_positions)
from helpers.rl.evaluate import accuracy_curves, frames_saved_ratio
from rl_toy import ToyClassifier, make_toy_features


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_returns_exactly_k_distinct_frames(name):
    fs = make_toy_features(num_clips=6, num_positions=8, seed=2)
    fs.audio_env[:3] = np.random.default_rng(0).random((3, 8))  # half the clips "have audio"
    for k in range(1, 9):
        pos = sampler_positions(name, fs, k, classifier=ToyClassifier(3), seed=4)
        assert pos.shape == (6, k)
        for row in pos:
            assert len(set(row.tolist())) == k and row.min() >= 0 and row.max() < 8
    with pytest.raises(ValueError):
        sampler_positions(name, fs, 9, classifier=ToyClassifier(3))


def test_uniform_and_audio_positions_values():
    assert uniform_positions(32, 4).tolist() == [4, 12, 20, 28]
    assert uniform_positions(8, 8).tolist() == list(range(8))
    env = np.array([0.1, 0.9, 0.2, 0.9, 0.0, 0.5])
    assert energy_positions(env, 3).tolist() == [1, 3, 5]
    assert energy_positions(np.zeros(6), 2).tolist() == uniform_positions(6, 2).tolist()  # silent fallback


def test_oracle_finds_the_informative_frame_first():
    fs = make_toy_features(num_clips=10, num_positions=8, informative=6, seed=3)
    order = oracle_orders(fs, ToyClassifier(3), 3)
    assert (order[:, 0] == 6).all()
    curves = accuracy_curves(fs, ToyClassifier(3), budgets=(1, 4, 8))
    assert curves["oracle"][1] == 1.0 and curves["uniform"][8] == 1.0
    assert curves["uniform"][1] == pytest.approx(np.mean(fs.labels == 0))  # frame 4 says nothing: prior argmax


def test_the_preview_heuristics_rank_by_motion_when_silent_and_by_sound_when_not():
    fs = make_toy_features(num_clips=10, num_positions=8, informative=6, seed=3)
    curves = accuracy_curves(fs, ToyClassifier(3), budgets=(1, 2))
    assert curves["motion"][1] == curves["heuristic"][1] == 1.0  # the preview points at the informative frame
    assert curves["uniform"][1] < 1.0
    fs.has_audio[:5] = True
    fs.audio_env[:5, 2] = 1.0  # these clips are loudest at frame 2
    picks = sampler_positions("heuristic", fs, 1)[:, 0]
    assert picks[:5].tolist() == [2] * 5 and picks[5:].tolist() == [6] * 5
    assert sampler_positions("motion", fs, 1)[:, 0].tolist() == [6] * 10


def test_without_a_motion_preview_the_motion_samplers_are_left_out_or_refused():
    fs = make_toy_features(num_clips=4, num_positions=8)
    fs.motion_env = None
    assert "motion" not in accuracy_curves(fs, ToyClassifier(3), budgets=(1,))
    with pytest.raises(ValueError, match="motion preview"):
        sampler_positions("heuristic", fs, 1)


def test_frames_saved_ratio():
    curve = {1: 0.2, 2: 0.5, 4: 0.8, 8: 0.9, 16: 0.9}
    assert frames_saved_ratio(curve, 0.8, 1.0) == (4.0, 4)
    assert frames_saved_ratio(curve, 0.85, 2.0) == (4.0, 8)
    ratio, k = frames_saved_ratio(curve, 0.95, 2.0)  # never reached: lower bound from the largest k
    assert k is None and ratio == 8.0
