"""FrameSamplingEnv: gymnasium checker, hand-computed rewards, STOP, budget."""
from __future__ import annotations

import warnings

import numpy as np
import pytest

from helpers.rl.env import EnvConfig, FrameSamplingEnv, fit_projection
from helpers.rl.features import FeatureSet
from rl_toy import ToyClassifier, make_toy_features


@pytest.fixture()
def toy() -> FeatureSet:
    return make_toy_features(num_clips=12, num_positions=8, num_classes=3, informative=5, seed=1)


def test_env_passes_gymnasium_checker(toy):
    from gymnasium.utils.env_checker import check_env

    env = FrameSamplingEnv(toy, ToyClassifier(3), EnvConfig(max_frames=4), fit_projection(toy, 3))
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # no checker warnings either
        check_env(env, skip_render_check=True)
    obs, info = env.reset(seed=0)
    assert obs.shape == (env.obs_dim,) == (3 + 3 + 8 + 1 + 3 + 8 + 1 + 8,)  # ... audio, has-audio, motion
    assert obs.dtype == np.float32 and env.action_space.n == 9
    np.testing.assert_array_equal(obs[-8:], toy.motion_env[env.clip])  # the silent preview, before any look
    without = FrameSamplingEnv(toy, ToyClassifier(3), EnvConfig(max_frames=4, use_motion=False), fit_projection(toy, 3))
    assert without.obs_dim == env.obs_dim - 8 and len(without.position_slices) == 2


def test_scripted_episode_rewards_match_hand_computation(toy):
    cfg = EnvConfig(max_frames=3, target_frames=1, gain_weight=1.0, correct_weight=1.0, frame_cost=0.05,
                    over_target_cost=0.1)
    env = FrameSamplingEnv(toy, ToyClassifier(3, confidence=0.9), cfg)
    clip = int(np.flatnonzero(toy.labels == 2)[0])  # label 2: the uniform prior's argmax (0) is wrong
    obs, info = env.reset(options={"clip": clip})
    assert info["prediction"] == 0 and not info["correct"]
    # 1) an uninformative frame: probabilities stay uniform, only the frame cost
    _, r1, term, trunc, info = env.step(0)
    assert r1 == pytest.approx(-0.05) and not term and not trunc
    # 2) the informative frame, over the target of 1 frame: p(true) 1/3 -> 0.9, becomes correct
    _, r2, term, _, info = env.step(5)
    assert r2 == pytest.approx(-0.05 - 0.1 + (0.9 - 1 / 3) + 1.0)
    assert info["correct"] and info["prediction"] == 2 and info["looked"] == [0, 5] and not term
    # 3) STOP: no reward, episode over
    _, r3, term, _, info = env.step(env.stop_action)
    assert r3 == 0.0 and term and info["frames_used"] == 2
    assert r1 + r2 + r3 == pytest.approx(0.9 - 1 / 3 + 1.0 - 2 * 0.05 - 0.1)


def test_stop_ends_episode_without_looking(toy):
    env = FrameSamplingEnv(toy, ToyClassifier(3))
    env.reset(seed=3)
    obs, reward, terminated, truncated, info = env.step(env.stop_action)
    assert terminated and not truncated and reward == 0.0
    assert info["frames_used"] == 0 and info["looked"] == [] and not info["correct"]


def test_budget_is_enforced_and_repeats_use_it(toy):
    env = FrameSamplingEnv(toy, ToyClassifier(3), EnvConfig(max_frames=3, target_frames=3))
    _, info = env.reset(options={"clip": 0})
    assert info["action_mask"].all()
    _, _, term, _, info = env.step(1)
    assert not term and not info["action_mask"][1] and info["action_mask"][env.stop_action]
    _, r, term, _, info = env.step(1)  # a second look: costs a frame, changes nothing
    assert not term and info["looked"] == [1] and info["frames_used"] == 2 and r == pytest.approx(-0.05)
    _, _, term, _, info = env.step(2)
    assert term and info["frames_used"] == 3 == env.config.max_frames
    with pytest.raises(ValueError):
        env.step(99)


def test_label_is_not_in_the_observation(toy):
    """Two clips that differ only in their label give the same observations."""
    twin = FeatureSet(toy.features[[0, 0]], toy.times[[0, 0]], toy.frame_indices[[0, 0]], np.array([0, 2]),
                      toy.audio_env[[0, 0]], toy.has_audio[[0, 0]], toy.events[[0, 0]], ["a", "b"],
                      toy.classes)
    env = FrameSamplingEnv(twin, ToyClassifier(3))
    obs = []
    for clip in (0, 1):
        o, _ = env.reset(options={"clip": clip})
        o2, *_ = env.step(3)
        obs.append(np.concatenate([o, o2]))
    np.testing.assert_array_equal(obs[0], obs[1])


def test_feature_set_round_trip(toy, tmp_path):
    path = toy.save(tmp_path / "f.npz")
    back = FeatureSet.load(path)
    for name in ("features", "times", "frame_indices", "labels", "audio_env", "has_audio", "events"):
        np.testing.assert_array_equal(getattr(back, name), getattr(toy, name))
    assert back.paths == toy.paths and back.classes == toy.classes and back.meta == toy.meta
    assert not list(tmp_path.glob("*.part"))
    (tmp_path / "bad.npz").write_bytes(b"not numpy")
    with pytest.raises(ValueError, match="bad.npz"):
        FeatureSet.load(tmp_path / "bad.npz")


def _audio_flags(fs: FeatureSet, dropout: float, resets: int = 200) -> np.ndarray:
    """The has-audio flag of the first observation of ``resets`` episodes (seeded once)."""
    env = FrameSamplingEnv(fs, ToyClassifier(3), EnvConfig(max_frames=3, audio_dropout=dropout))
    flag_at = env.position_slices[1][1]  # the flag follows the audio envelope
    flags = [env.reset(seed=7 if i == 0 else None)[0][flag_at] for i in range(resets)]
    return np.array(flags)


def test_audio_dropout_hides_the_audio_preview_in_about_its_share_of_episodes(toy):
    toy.has_audio[:] = True
    toy.audio_env[:] = 0.5
    assert _audio_flags(toy, 0.0).all()  # no dropout: every episode hears the clip
    flags = _audio_flags(toy, 0.5)
    assert 0.38 < 1.0 - flags.mean() < 0.62  # 200 draws at p = 0.5: ±0.12 is > 3 standard deviations
    np.testing.assert_array_equal(flags, _audio_flags(toy, 0.5))  # the env's seeded RNG: reproducible
    assert not _audio_flags(toy, 1.0).any()


def test_a_hidden_episode_sees_what_a_silent_clip_gives(toy):
    toy.has_audio[:] = True
    toy.audio_env[:] = 0.5
    hidden = FrameSamplingEnv(toy, ToyClassifier(3), EnvConfig(audio_dropout=1.0))
    silent = FrameSamplingEnv(toy, ToyClassifier(3), EnvConfig(use_audio=False))
    np.testing.assert_array_equal(hidden.reset(options={"clip": 2})[0], silent.reset(options={"clip": 2})[0])
    with pytest.raises(ValueError, match="audio_dropout"):
        EnvConfig(audio_dropout=1.5)


def test_anytime_reward_pays_each_right_look_and_the_budget_left_at_stop(toy):
    cfg = EnvConfig(max_frames=4, target_frames=4, gain_weight=0.0, correct_weight=0.0, frame_cost=0.05,
                    anytime_weight=1.0)
    env = FrameSamplingEnv(toy, ToyClassifier(3, confidence=0.9), cfg)
    clip = int(np.flatnonzero(toy.labels == 2)[0])
    env.reset(options={"clip": clip})
    assert env.step(0)[1] == pytest.approx(-0.05)  # still wrong after an uninformative look
    assert env.step(5)[1] == pytest.approx(1.0 - 0.05)  # right after this look
    _, r_stop, term, _, _ = env.step(env.stop_action)
    assert term and r_stop == pytest.approx(2 * 1.0)  # two looks left, the answer stands for both
    env.reset(options={"clip": clip})
    env.step(0)
    assert env.step(env.stop_action)[1] == 0.0  # stopping while wrong earns nothing


def test_preview_action_is_the_heuristics_next_look(toy):
    env = FrameSamplingEnv(toy, ToyClassifier(3), EnvConfig(max_frames=4))
    _, info = env.reset(options={"clip": 0})
    first = int(np.argmax(toy.motion_env[0]))
    assert info["preview_action"] == first == 5  # silent clip: the motion preview's peak
    _, _, _, _, info = env.step(first)
    second = int(np.argsort(-toy.motion_env[0], kind="stable")[1])
    assert info["preview_action"] == second != first  # looked frames are skipped
    loud = toy.subset([0])
    loud.audio_env[0] = 0.0
    loud.audio_env[0, 2] = 1.0
    loud.has_audio[0] = True
    heard = FrameSamplingEnv(loud, ToyClassifier(3), EnvConfig(max_frames=4))
    assert heard.reset(options={"clip": 0})[1]["preview_action"] == 2  # sound shown: the audio peak
    muted = FrameSamplingEnv(loud, ToyClassifier(3), EnvConfig(max_frames=4, use_audio=False))
    assert muted.reset(options={"clip": 0})[1]["preview_action"] == 5


def test_in_preview_order_the_agent_may_only_take_the_previews_next_look_or_stop(toy):
    from helpers.rl.agent import DQNAgent, DQNConfig
    from helpers.rl.trainer import run_policy

    env = FrameSamplingEnv(toy, ToyClassifier(3), EnvConfig(max_frames=4, look_order="preview"))
    _, info = env.reset(options={"clip": 0})
    order = [int(p) for p in np.argsort(-toy.motion_env[0], kind="stable")]
    for look in range(4):
        assert np.flatnonzero(info["action_mask"]).tolist() == sorted([order[look], env.stop_action])
        _, _, done, _, info = env.step(order[look])
    assert done and info["looked"] == order[:4]
    # any agent (here an untrained one) looks in the heuristic's order, wherever it stops
    agent = DQNAgent(env.observation_space.shape[0], env.action_space.n, DQNConfig(seed=0))
    for clip in range(toy.num_clips):
        picks, _ = run_policy(agent, env, clip)
        ranked = [int(p) for p in np.argsort(-toy.motion_env[clip], kind="stable")]
        assert picks == ranked[:len(picks)]
    with pytest.raises(ValueError, match="look_order"):
        EnvConfig(look_order="random")


def test_spread_order_looks_farthest_from_every_look_so_far(toy):
    env = FrameSamplingEnv(toy, ToyClassifier(3), EnvConfig(max_frames=8, look_order="spread"))
    _, info = env.reset(options={"clip": 0})
    seen = []
    for _ in range(8):
        allowed = np.flatnonzero(info["action_mask"][:-1]).tolist()
        assert len(allowed) == 1 and info["action_mask"][env.stop_action]
        seen.append(allowed[0])
        _, _, done, _, info = env.step(allowed[0])
    # 8 candidates: the middle, then the gaps halved (earliest of equals), every one once
    assert seen[:4] == [3, 1, 5, 0] and sorted(seen) == list(range(8)) and done
    # a first look taken elsewhere (the preview's) is spread around
    env.reset(options={"clip": 0})
    env.step(7)
    assert env.spread_action() == 3


def test_preview_or_spread_offers_both_next_looks_and_stop(toy):
    env = FrameSamplingEnv(toy, ToyClassifier(3), EnvConfig(max_frames=4, look_order="preview_or_spread"))
    _, info = env.reset(options={"clip": 0})
    assert np.flatnonzero(info["action_mask"]).tolist() == sorted({env.preview_action(), 3, env.stop_action})
    _, _, _, _, info = env.step(3)  # spread: the middle
    assert np.flatnonzero(info["action_mask"]).tolist() == sorted({env.preview_action(), 1, env.stop_action})
