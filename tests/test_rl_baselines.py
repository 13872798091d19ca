"""Samplers at equal budgets and the frames-saved ratio."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.rl.baselines import (SAMPLERS, energy_positions, oracle_orders, sampler_positions,
                                  uniform_positions)
from helpers.rl.evaluate import accuracy_curves, agent_vs_heuristic_min, frames_saved_ratio, sampling_figures
from rl_toy import ToyClassifier, make_toy_features


@pytest.mark.parametrize("name", SAMPLERS)
def test_every_sampler_returns_exactly_k_distinct_frames(name):
    fs = make_toy_features(num_clips=6, num_positions=8, seed=2)
    fs.audio_env[:3] = np.random.default_rng(0).random((3, 8))  # half the clips "have audio"
    fs.packet_env = np.random.default_rng(1).random((6, 8)).astype(np.float32)
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


def test_frames_saved_ratio_reads_k_star_at_the_best_uniform_accuracy_and_c_star_over_caps_and_free_run():
    uniform = {1: 0.3, 2: 0.5, 4: 0.7, 8: 0.7}  # U* = 0.7, target 0.69: k* = 4
    # (budget, accuracy): free-running 3.0 frames, then the caps 1, 2, 4, 8
    points = [(3.0, 0.72), (1.0, 0.4), (2.0, 0.695), (4.0, 0.75), (8.0, 0.75)]
    saved = frames_saved_ratio(uniform, points)
    assert saved.best_uniform_accuracy == 0.7 and saved.uniform_frames == 4
    assert saved.agent_frames == 2.0 and saved.agent_index == 2 and saved.ratio == 2.0  # cap 2 is within a point
    saved = frames_saved_ratio(uniform, [(1.5, 0.70), (1.0, 0.5), (2.0, 0.6)])
    assert saved.agent_frames == 1.5 and saved.agent_index == 0  # the free run is the smallest budget there
    assert saved.ratio == pytest.approx(4 / 1.5)
    saved = frames_saved_ratio(uniform, [(3.0, 0.6), (1.0, 0.3), (8.0, 0.68)])  # 0.68 < 0.69: never reached
    assert saved.uniform_frames == 4 and saved.agent_frames is None and saved.ratio is None
    # the one-point tolerance also moves k*: 0.69 at 2 frames is within a point of 0.70
    assert frames_saved_ratio({1: 0.3, 2: 0.69, 4: 0.7}, [(1.0, 0.7)]).uniform_frames == 2
    # accuracies as clip counts out of 24: 15/24 is U*, 14/24 is 4.2 points below
    saved = frames_saved_ratio({k: c / 24 for k, c in {1: 7, 2: 7, 4: 12, 5: 15, 8: 11}.items()},
                               [(4.875, 18 / 24), (1.0, 14 / 24), (2.0, 15 / 24)])
    assert (saved.uniform_frames, saved.agent_frames, saved.ratio) == (5, 2.0, 2.5)
    with pytest.raises(ValueError):
        frames_saved_ratio({}, [(1.0, 1.0)])


def test_agent_vs_heuristic_min_is_the_worst_cap_in_points():
    agent = {1: 0.5, 2: 0.75, 4: 0.8, 8: 0.8}
    heuristic = {1: 0.875, 2: 0.75, 4: 0.7, 8: 0.75, 16: 0.7}
    assert agent_vs_heuristic_min(agent, heuristic) == pytest.approx(-37.5)
    assert agent_vs_heuristic_min({2: 0.75, 4: 0.8}, heuristic) == pytest.approx(0.0)  # only shared caps count
    assert agent_vs_heuristic_min({4: 0.8, 8: 0.9}, heuristic) == pytest.approx(10.0)
    assert agent_vs_heuristic_min(agent, {}) is None


def test_the_packet_sampler_ranks_by_packet_energy_and_needs_it():
    fs = make_toy_features(num_clips=4, num_positions=8, informative=6, seed=3)
    assert "packets" not in accuracy_curves(fs, ToyClassifier(3), budgets=(1,))  # no packet preview
    with pytest.raises(ValueError, match="packet preview"):
        sampler_positions("packets", fs, 1)
    fs.packet_env = np.zeros((4, 8), np.float32)
    fs.packet_env[:, 3] = 1.0
    fs.packet_env[:2, 6] = 0.5
    assert sampler_positions("packets", fs, 1)[:, 0].tolist() == [3] * 4
    assert sampler_positions("packets", fs, 2).tolist() == [[3, 6], [3, 6], [0, 3], [0, 3]]  # ties by position
    curves = accuracy_curves(fs, ToyClassifier(3), budgets=(1, 2))
    assert curves["packets"][1] < curves["motion"][1] == 1.0  # frame 3 is not the informative one


def test_sampling_figures_hold_the_agent_to_the_named_heuristic():
    uniform_all = {1: 0.3, 2: 0.5, 3: 0.6, 4: 0.7, 8: 0.7}
    curves = {"uniform": {1: 0.3, 2: 0.5, 4: 0.7, 8: 0.7}, "random": {1: 0.2, 2: 0.4, 4: 0.6, 8: 0.7},
              "heuristic": {1: 0.9, 2: 0.9, 4: 0.8, 8: 0.8}, "motion": {1: 0.4, 2: 0.6, 4: 0.7, 8: 0.7},
              "oracle": {1: 1.0, 2: 1.0, 4: 1.0, 8: 1.0}}
    free = {"accuracy": 0.75, "mean_frames": 2.5}
    caps = {c: {"accuracy": a, "mean_frames": float(c)} for c, a in {1: 0.5, 2: 0.7, 4: 0.75, 8: 0.75}.items()}
    sound, saved = sampling_figures(uniform_all, curves, free, caps, "heuristic")
    assert sound["frames_saved_ratio"] == 2.0 and sound["agent_budget_star"] == 2.0 and saved.agent_index == 2
    assert sound["agent_vs_heuristic_min"] == pytest.approx(-40.0)  # cap 1: 0.5 against 0.9
    assert sound["curves"]["heuristic"] == curves["heuristic"] and sound["curves"]["agent_caps"][2] == 0.7
    assert "packets" not in sound["curves"]
    with_packets, _ = sampling_figures(uniform_all, {**curves, "packets": {1: 0.6}}, free, caps, "heuristic")
    assert with_packets["curves"]["packets"] == {1: 0.6}
    silent, _ = sampling_figures(uniform_all, curves, free, caps, "motion")
    assert silent["curves"]["heuristic"] == curves["motion"]
    assert silent["agent_vs_heuristic_min"] == pytest.approx(5.0)  # caps 4 and 8: 0.75 against 0.7
    assert (silent["agent_accuracy"], silent["agent_mean_frames"]) == (0.75, 2.5)


def test_event_hit_rate_counts_the_top_candidates_inside_the_event():
    from helpers.rl.evaluate import event_hit_rate
    from rl_toy import make_toy_features

    fs = make_toy_features(num_clips=4, num_positions=8, informative=5)
    fs.events[:] = [5, 7]  # frames 5 and 6 hold the event
    assert event_hit_rate(fs, fs.motion_env, k=1) == 1.0  # the motion preview peaks at 5
    assert event_hit_rate(fs, fs.motion_env, k=2) == pytest.approx(np.mean(
        [np.isin(np.argsort(-fs.motion_env[i], kind="stable")[:2], [5, 6]).mean() for i in range(4)]))
    flat = np.zeros_like(fs.motion_env)  # no preview: uniform picks (positions 2 and 6 of 8)
    assert event_hit_rate(fs, flat, k=2) == 0.5
    fs.events[:] = -1
    assert np.isnan(event_hit_rate(fs, fs.motion_env))


def test_top_in_event_reads_frame_indices_not_positions():
    from helpers.rl.evaluate import top_in_event

    frames = np.array([0, 30, 60, 90, 120])  # five candidates of a 150-frame clip
    env = np.array([0.1, 0.9, 0.8, 0.0, 0.2])
    assert top_in_event(frames, env, (25, 65), k=1) == 1.0  # frame 30
    assert top_in_event(frames, env, (25, 65), k=3) == pytest.approx(2 / 3)  # 30, 60 in; 120 out
    assert top_in_event(frames, env, (60, 61), k=2) == 0.5  # the window is half-open: 60 in, 30 out
    assert top_in_event(frames, env, (61, 90), k=5) == 0.0


def test_paired_interval_is_the_bootstrap_spread_of_the_accuracy_difference():
    from helpers.rl.evaluate import paired_interval

    same = [True] * 30 + [False] * 30
    assert paired_interval(same, same) == (0.0, 0.0)  # the same answers: no difference on any draw
    assert paired_interval([True] * 40, [False] * 40) == (100.0, 100.0)
    # two clips out of 90 apart, the rest agreeing: the point estimate is 2.2 points, and the
    # interval reaches 0 (no clip on which they differ, in some draws) but never below it
    a = [True] * 70 + [True, True] + [False] * 18
    b = [True] * 70 + [False, False] + [False] * 18
    low, high = paired_interval(a, b, draws=4000, seed=1)
    assert low == 0.0 and 2.2 < high <= 100 * 6 / 90
    # disagreeing both ways: the interval straddles 0
    low, high = paired_interval([True, False] * 20, [False, True] * 20)
    assert low < 0 < high and low == pytest.approx(-high, abs=8)
    with pytest.raises(ValueError, match="same clips"):
        paired_interval([True, False], [True])


def test_worst_cap_margin_finds_the_cap_of_the_minimum_and_its_interval():
    from helpers.rl.evaluate import agent_vs_heuristic_min, worst_cap_margin
    from rl_toy import ToyClassifier, make_toy_features

    fs = make_toy_features(num_clips=40, num_positions=8, informative=5)
    clf = ToyClassifier()  # the motion preview peaks on the informative frame: motion energy is always right
    caps = {1: {"correct": [True] * 20 + [False] * 20, "accuracy": 0.5},
            2: {"correct": [True] * 30 + [False] * 10, "accuracy": 0.75},
            4: {"correct": [True] * 40, "accuracy": 1.0}}
    worst = worst_cap_margin(caps, fs, clf, "motion")
    assert worst["cap"] == 1 and worst["margin"] == pytest.approx(-50.0)
    assert worst["margin"] == agent_vs_heuristic_min({c: r["accuracy"] for c, r in caps.items()},
                                                     {1: 1.0, 2: 1.0, 4: 1.0})
    low, high = worst["interval"]
    assert -70 < low < -50 < high < -30  # 20 of 40 clips wrong: about ±15 points
    assert worst_cap_margin({}, fs, clf, "motion") is None
    assert worst_cap_margin({16: caps[4]}, fs, clf, "motion") is None  # past the 8 candidates: no heuristic there
