"""DQNAgent + RLTrainer: learns the toy problem, beats uniform there, save/load."""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import pytest
import torch

from helpers.rl.agent import DQNAgent, DQNConfig
from helpers.rl.env import EnvConfig, FrameSamplingEnv
from helpers.rl.evaluate import accuracy_curves, cap_results, evaluate_agent
from rl_toy import ToyClassifier, make_toy_features
from helpers.rl.trainer import RLTrainer, run_policy


@pytest.fixture(scope="module")
def trained():
    torch.set_num_threads(1)
    fs = make_toy_features(num_clips=40, num_positions=8, informative=5, seed=0)
    env = FrameSamplingEnv(fs, ToyClassifier(3), EnvConfig(max_frames=4, target_frames=1, frame_cost=0.1,
                                                           over_target_cost=0.1))
    agent = DQNAgent(env.obs_dim, int(env.action_space.n),
                     DQNConfig(hidden=64, eps_decay_steps=200, target_update=50, batch_size=32, gamma=0.9, seed=0))
    trainer = RLTrainer(env, agent, seed=0)
    history = trainer.fit(100, progress=False)
    return fs, env, agent, trainer, history


def test_agent_learns_fixed_informative_position_and_beats_uniform(trained):
    fs, env, agent, _, history = trained
    result = evaluate_agent(agent, env)
    assert result["accuracy"] >= 0.95
    assert result["mean_frames"] <= 1.5
    assert sum(p[:1] == [5] for p in result["picks"]) >= 0.9 * fs.num_clips  # the informative frame first
    budget = max(1, int(np.ceil(result["mean_frames"])))
    uniform = accuracy_curves(fs, ToyClassifier(3), budgets=(budget,), samplers=("uniform",))["uniform"][budget]
    assert result["accuracy"] > uniform + 0.3
    assert len(history.reward) == 100 and history.epsilon[0] > history.epsilon[-1] == pytest.approx(0.05)
    assert np.mean(history.reward[-30:]) > np.mean(history.reward[:30])


class NeverStops:
    """A policy that looks at the first new frame every step and never chooses STOP."""

    def act(self, obs, mask, explore=False):
        return int(np.flatnonzero(mask[:-1])[0])


def test_a_forced_cap_limits_the_frames_of_every_greedy_episode():
    fs = make_toy_features(num_clips=6, num_positions=8, informative=5, seed=1)
    env = FrameSamplingEnv(fs, ToyClassifier(3), EnvConfig(max_frames=6, target_frames=2))
    assert evaluate_agent(NeverStops(), env)["frames"] == [6] * 6  # uncapped: the env's own budget
    for cap in (1, 2, 4):
        result = evaluate_agent(NeverStops(), env, max_frames=cap)
        assert result["frames"] == [cap] * 6 and all(p == list(range(cap)) for p in result["picks"])
        # frames 0…3 carry no label (the informative one is 5): the prior's argmax, class 0
        assert result["accuracy"] == pytest.approx(np.mean(fs.labels == 0)) and result["accuracy"] < 1.0
    assert evaluate_agent(NeverStops(), env, max_frames=6)["accuracy"] == 1.0
    assert run_policy(NeverStops(), env, 0, max_frames=1)[1]["frames_used"] == 1
    with pytest.raises(ValueError, match="max_frames"):
        run_policy(NeverStops(), env, 0, max_frames=0)


def test_cap_results_of_the_trained_agent(trained):
    fs, env, agent, _, _ = trained
    caps = cap_results(agent, env, (1, 2, 4))
    assert sorted(caps) == [1, 2, 4]
    assert all(f <= 1 for f in caps[1]["frames"]) and len(caps[1]["frames"]) == fs.num_clips
    assert caps[1]["accuracy"] >= 0.9  # it looks at the informative frame first
    assert caps[4]["accuracy"] == evaluate_agent(agent, env)["accuracy"]  # cap = the env's budget: the free run


def test_exact_caps_make_the_agent_look_at_exactly_c_frames(trained):
    """The trained toy agent stops after the informative frame; with ``exact`` STOP is
    masked until the cap, so every episode has c frames, the informative one still first."""
    fs, env, agent, _, _ = trained
    free = cap_results(agent, env, (2, 4))
    exact = cap_results(agent, env, (1, 2, 4), exact=True)
    assert np.mean(free[4]["frames"]) <= 1.5
    for c in (1, 2, 4):
        assert exact[c]["frames"] == [c] * fs.num_clips
        assert all(len(set(p)) == c for p in exact[c]["picks"])
    assert sum(p[0] == 5 for p in exact[4]["picks"]) == sum(p[0] == 5 for p in free[4]["picks"])
    with pytest.raises(ValueError, match="needs max_frames"):
        run_policy(agent, env, 0, exact=True)


def test_save_load_gives_the_same_actions(trained, tmp_path):
    _, env, agent, trainer, _ = trained
    path = trainer.save(tmp_path / "agent.pt")
    back = DQNAgent.load(path)
    assert not list(tmp_path.glob("*.part"))
    assert back.extra["env_config"]["max_frames"] == 4 and len(back.extra["history"]["reward"]) == 100
    rng = np.random.default_rng(0)
    for _ in range(20):
        obs = rng.normal(size=env.obs_dim).astype(np.float32)
        mask = rng.random(agent.n_actions) > 0.3
        mask[-1] = True
        np.testing.assert_array_equal(back.q_values(obs), agent.q_values(obs))
        assert back.act(obs, mask) == agent.act(obs, mask)
    for clip in range(5):
        assert run_policy(back, env, clip)[0] == run_policy(agent, env, clip)[0]
    (tmp_path / "junk.pt").write_bytes(b"junk")
    with pytest.raises(ValueError, match="junk.pt"):
        DQNAgent.load(tmp_path / "junk.pt")


def test_epsilon_schedule_is_linear():
    agent = DQNAgent(4, 3, DQNConfig(eps_start=1.0, eps_end=0.1, eps_decay_steps=100))
    assert agent.epsilon == 1.0
    agent.env_steps = 50
    assert agent.epsilon == pytest.approx(0.55)
    agent.env_steps = 1000
    assert agent.epsilon == pytest.approx(0.1)


def test_masked_actions_are_never_chosen():
    agent = DQNAgent(4, 5, DQNConfig(seed=1))
    obs = np.ones(4, np.float32)
    mask = np.array([False, False, True, False, True])
    for explore in (False, True):
        assert {agent.act(obs, mask, explore=explore) for _ in range(50)} <= {2, 4}


def test_double_dqn_target_uses_online_argmax_and_target_values():
    agent = DQNAgent(2, 2, DQNConfig(batch_size=1, gamma=0.5, lr=0.0, target_update=10**6))
    with torch.no_grad():  # online prefers action 1 at s'; target values action 0 at 10, action 1 at -2
        for net, bias in ((agent.online, [0.0, 1.0]), (agent.target, [10.0, -2.0])):
            for layer in net.net:
                if isinstance(layer, torch.nn.Linear):
                    layer.weight.zero_()
                    layer.bias.zero_()
            net.net[-1].bias.copy_(torch.tensor(bias))
    agent.observe(np.zeros(2, np.float32), 0, 3.0, np.zeros(2, np.float32), False, np.array([True, True]))
    # Double DQN: y = 3 + 0.5·Q_target(s', argmax_online = 1) = 3 − 1 = 2; q = 0; Huber(2) = 2 − 0.5.
    # (Plain DQN would use max Q_target = 10: y = 8, loss 7.5; masking action 1 out: y = 8 too.)
    assert agent.update() == pytest.approx(1.5)


def test_positional_q_network_learns_the_toy_and_round_trips(tmp_path):
    from helpers.rl.agent import PositionalQNetwork

    torch.set_num_threads(1)
    fs = make_toy_features(num_clips=40, num_positions=8, informative=5, seed=0)
    env = FrameSamplingEnv(fs, ToyClassifier(3), EnvConfig(max_frames=4, target_frames=1, frame_cost=0.1,
                                                           over_target_cost=0.1))
    assert env.position_slices == ((6, 14), (env.obs_dim - 17, env.obs_dim - 9), (env.obs_dim - 8, env.obs_dim))
    cfg = DQNConfig(hidden=64, eps_decay_steps=200, target_update=50, batch_size=32, gamma=0.9, seed=0,
                    position_slices=env.position_slices)
    agent = DQNAgent(env.obs_dim, int(env.action_space.n), cfg)
    assert isinstance(agent.online, PositionalQNetwork) and agent.q_values(env.reset(seed=0)[0]).shape == (9,)
    RLTrainer(env, agent, seed=0).fit(100, progress=False)
    result = evaluate_agent(agent, env)
    assert result["accuracy"] >= 0.95 and result["mean_frames"] <= 1.5
    back = DQNAgent.load(agent.save(tmp_path / "pos.pt"))
    for clip in range(5):
        assert run_policy(back, env, clip)[0] == run_policy(agent, env, clip)[0]
    with pytest.raises(ValueError, match="does not hold"):
        PositionalQNetwork(env.obs_dim, 9, 16, [(0, 5)])


def toy_pipeline(trained, tmp_path):
    """The trained toy agent with sound, and the never-stopping policy as the silent agent."""
    from helpers.rl.pipeline import PipelineConfig, RLPipeline, sampler_curves

    fs, env, agent, trainer, history = trained
    cfg = PipelineConfig(data_dir=tmp_path, cache_dir=tmp_path, budgets=(1, 2, 4, 8))
    curves, uniform_all = sampler_curves(fs, ToyClassifier(3), cfg)
    caps = cap_results(agent, env, (1, 2, 4))
    never = cap_results(NeverStops(), env, (1, 2, 4))
    return RLPipeline(cfg, fs, fs, ToyClassifier(3), env, env, agent, history, curves, uniform_all,
                      evaluate_agent(agent, env), no_audio_result=evaluate_agent(NeverStops(), env),
                      agent_caps=caps, no_audio_caps=never)


def test_pipeline_summary_reports_both_previews_with_and_without_the_silent_prefix(trained, tmp_path):
    import json

    fs, env, agent, trainer, history = trained
    pipe = toy_pipeline(trained, tmp_path)
    curves, caps = pipe.curves, pipe.agent_caps
    summary = json.loads(json.dumps(pipe.summary()))  # valid JSON (no NaN)
    assert summary["best_uniform_accuracy"] == summary["silent_best_uniform_accuracy"] == 1.0  # 8 of 8 frames
    # uniform first holds the informative frame 5 at k = 4 (positions 1, 3, 5, 7); the agent looks there first
    assert summary["uniform_k_star"] == 4 and summary["agent_budget_star"] == 1.0
    assert summary["frames_saved_ratio"] == 4.0 and caps[1]["accuracy"] == 1.0
    assert summary["agent_vs_heuristic_min"] == 0.0  # motion energy also points at frame 5 (the toy has no audio)
    # the never-stopping policy looks at frames 0, 1, …: it reaches the label only with 6 frames, past every cap
    assert summary["silent_frames_saved_ratio"] is None and summary["silent_agent_budget_star"] is None
    prior = float(np.mean(fs.labels == 0))  # its accuracy at every cap: the prior's argmax
    assert summary["silent_agent_vs_heuristic_min"] == round(100 * (prior - 1.0), 4)
    # the worst cap and its interval: the agent equals the heuristic on every clip (no spread); the
    # never-stopping policy is below it at every cap alike (the first, cap 1, is reported)
    assert summary["agent_vs_heuristic_interval"] == [0.0, 0.0]
    assert summary["silent_agent_vs_heuristic_worst_cap"] == 1
    low, high = summary["silent_agent_vs_heuristic_interval"]
    assert low < 100 * (prior - 1.0) < high < 0
    assert set(summary["curves"]) == {"uniform", "random", "heuristic", "oracle", "agent_caps"}
    assert summary["silent_curves"]["agent_caps"] == {"1": round(prior, 4), "2": round(prior, 4),
                                                      "4": round(prior, 4)}
    assert summary["silent_curves"]["heuristic"] == {str(k): v for k, v in curves["motion"].items()}
    assert "wall_clock_speedup" not in summary and summary["wall_clock_speedup_estimate"] is None  # no frame cost
    notes = pipe.summary_notes()
    assert any("silent_frames_saved_ratio is null" in n for n in notes)
    assert not any(n.startswith("with sound") for n in notes)


def test_equal_frames_runs_the_agent_at_exactly_each_cap_against_the_heuristic(trained, tmp_path):
    pipe = toy_pipeline(trained, tmp_path)
    equal = pipe.equal_frames()
    # the toy agent looks at the informative frame first, so it is right at every exact budget,
    # as motion energy (peaking there) is: a margin of 0 with sound and silent
    assert equal["agent_equal_frames"] == equal["silent_agent_equal_frames"] == {1: 1.0, 2: 1.0, 4: 1.0, 8: 1.0}
    assert pipe.curves["motion"] == {1: 1.0, 2: 1.0, 4: 1.0, 8: 1.0}
    assert equal["agent_vs_heuristic_min_equal_frames"] == equal["silent_agent_vs_heuristic_min_equal_frames"] == 0.0
    pipe.curves["motion"][2] = 1.125  # were motion energy 12.5 points better at 2 frames
    assert pipe.equal_frames()["silent_agent_vs_heuristic_min_equal_frames"] == -12.5


def test_the_heuristic_comparison_holds_the_summary_figures_per_setting(trained, tmp_path):
    pipe = toy_pipeline(trained, tmp_path)
    fs = pipe.test
    record, summary = pipe.heuristic_comparison(), pipe.summary()
    assert set(record) == {"sound", "silent"}
    assert (record["sound"]["heuristic"], record["silent"]["heuristic"]) == ("heuristic", "motion")
    prior = float(np.mean(fs.labels == 0))
    for c in (1, 2, 4):
        assert record["sound"]["caps"][c] == {"agent": pipe.agent_caps[c]["accuracy"],
                                              "heuristic": pipe.curves["heuristic"][c]}
        assert record["silent"]["caps"][c] == {"agent": pytest.approx(prior), "heuristic": pipe.curves["motion"][c]}
    assert set(record["sound"]["caps"]) == {1, 2, 4}  # the caps the heuristic was also measured at
    for setting, prefix in (("sound", ""), ("silent", "silent_")):
        assert round(record[setting]["agent_vs_heuristic_min"], 4) == summary[prefix + "agent_vs_heuristic_min"]
        assert round(record[setting]["agent_mean_frames"], 4) == summary[prefix + "agent_mean_frames"]
    assert record["silent"]["agent_vs_heuristic_min"] == pytest.approx(100 * (prior - 1.0))
    for setting, prefix in (("sound", ""), ("silent", "silent_")):
        budget = summary[prefix + "agent_budget_star"]  # c*: a cap, the free run's mean frames, or None
        cap = record[setting]["cap"]
        assert cap is None or (cap == budget and cap in pipe.config.caps), (setting, cap, budget)
        target = summary[prefix + "best_uniform_accuracy"] - 0.01
        reach = [c for c, h in summary[prefix + "curves"]["heuristic"].items() if h >= target - 1e-4]
        assert record[setting]["heuristic_cap"] == (min(int(c) for c in reach) if reach else None)
        assert record[setting]["uniform_k"] == summary[prefix + "uniform_k_star"]
        assert record[setting]["frames_saved_ratio"] == pytest.approx(summary[prefix + "frames_saved_ratio"], abs=1e-4)
    assert record["sound"]["split"] == record["silent"]["split"] == "test"  # no validation clips evaluated
    pipe.no_audio_result = None
    assert set(pipe.heuristic_comparison()) == {"sound"}


def test_the_pipeline_trains_one_agent_and_its_silent_figures_are_that_agents(tmp_path, monkeypatch):
    """``run_pipeline`` on the toy (its classifier step replaced): one agent, trained with
    audio dropout, evaluated with sound and with the audio preview off."""
    import helpers.rl.pipeline as pipeline

    fs = make_toy_features(num_clips=12, num_positions=8, informative=5, seed=0)
    fs.has_audio[:6] = True
    fs.audio_env[:6, 5] = 1.0  # half the clips with sound, the envelope peaking at the informative frame
    monkeypatch.setattr(pipeline, "build_classifier", lambda cfg, model, checkpoint: (ToyClassifier(3), fs, fs, []))
    val = make_toy_features(num_clips=9, num_positions=8, informative=2, seed=1)  # the action elsewhere
    monkeypatch.setattr(pipeline, "validation_features", lambda cfg, model, checkpoint, encoder: val)
    trained_with = []
    real_train = pipeline.train_agent

    def counting_train(train, classifier, env_cfg, *args, **kwargs):
        trained_with.append(env_cfg)
        return real_train(train, classifier, env_cfg, *args, **kwargs)

    monkeypatch.setattr(pipeline, "train_agent", counting_train)
    cfg = pipeline.PipelineConfig(data_dir=tmp_path, cache_dir=tmp_path, classifier="head", episodes=20,
                                  budgets=(1, 2), caps=(1, 2), projection_dims=2, progress=False,
                                  env=EnvConfig(max_frames=3, target_frames=1),
                                  dqn=DQNConfig(hidden=16, batch_size=8, eps_decay_steps=20))
    pipe = pipeline.run_pipeline(cfg)
    assert [c.audio_dropout for c in trained_with] == [cfg.audio_dropout] and cfg.audio_dropout > 0
    assert pipe.test_env.config.audio_dropout == 0.0 and pipe.test_env.config.use_audio
    silent_env = FrameSamplingEnv(fs, ToyClassifier(3), replace(pipe.test_env.config, use_audio=False),
                                  pipe.env.projection)
    again = evaluate_agent(pipe.agent, silent_env)
    assert (again["picks"], again["accuracy"]) == (pipe.no_audio_result["picks"], pipe.no_audio_result["accuracy"])
    assert {c: r["picks"] for c, r in cap_results(pipe.agent, silent_env, (1, 2)).items()} == \
        {c: r["picks"] for c, r in pipe.no_audio_caps.items()}
    assert set(pipe.heuristic_comparison()) == {"sound", "silent"}
    # the saved sampler's choice is read from the validation clips, the same agent evaluated there
    assert pipe.validation.test is val and pipe.validation.agent is pipe.agent
    assert pipe.validation.agent_result["picks"] == evaluate_agent(pipe.agent, pipe.validation.test_env)["picks"]
    record = pipe.heuristic_comparison()
    assert record["silent"]["split"] == "validation" and record["sound"]["split"] == "validation"
    val_summary = pipe.validation.summary()
    assert round(record["silent"]["agent_vs_heuristic_min"], 4) == val_summary["silent_agent_vs_heuristic_min"]
    assert record["sound"]["uniform_k"] == val_summary["uniform_k_star"]
    assert val_summary["agent_vs_heuristic_min"] != pipe.summary()["agent_vs_heuristic_min"]  # not the test's

    trained_with.clear()
    pipe = pipeline.run_pipeline(replace(cfg, no_audio=False))
    assert [c.audio_dropout for c in trained_with] == [0.0] and pipe.no_audio_result is None


def test_guided_exploration_takes_the_hint_in_its_share_of_exploratory_actions():
    mask = np.ones(9, bool)
    obs = np.zeros(4, np.float32)
    picks = {}
    for guided in (0.0, 0.5, 1.0):
        agent = DQNAgent(4, 9, DQNConfig(eps_start=1.0, eps_end=1.0, guided=guided, seed=0))
        picks[guided] = np.array([agent.act(obs, mask, explore=True, hint=3) for _ in range(2000)])
    assert (picks[1.0] == 3).all()
    assert 0.5 < (picks[0.5] == 3).mean() < 0.6  # half the hint, plus a ninth of the uniform half
    assert 0.08 < (picks[0.0] == 3).mean() < 0.15  # uniform over 9 actions
    greedy = DQNAgent(4, 9, DQNConfig(guided=1.0, seed=0))
    assert greedy.act(obs, mask, explore=False, hint=3) == int(np.argmax(greedy.q_values(obs)))


def test_a_positions_preview_reaches_only_its_own_and_its_neighbours_q_values(tmp_path):
    """Without the whole per-position slices in the shared summary, changing one position's
    preview moves only the Q-values of looking there or next to it; with them (agents saved
    before the option), every action's. An old file loads with its own setting."""
    from helpers.rl.agent import PositionalQNetwork

    torch.manual_seed(0)
    obs = torch.randn(1, 20)
    moved = obs.clone()
    moved[0, 4 + 5] += 1.0  # position 5 of the slice 4:12 (8 positions; action 8 is STOP)
    local = PositionalQNetwork(20, 9, 16, [(4, 12)], summary_sees_positions=False)
    changed = ((local(moved) - local(obs)).abs()[0] > 1e-7).nonzero().flatten().tolist()
    assert changed == [4, 5, 6]
    seeing = PositionalQNetwork(20, 9, 16, [(4, 12)], summary_sees_positions=True)
    assert ((seeing(moved) - seeing(obs)).abs()[0] > 1e-7).all()

    old = DQNAgent(20, 9, DQNConfig(hidden=16, position_slices=((4, 12),), summary_sees_positions=True))
    path = old.save(tmp_path / "old.pt")
    state = torch.load(path, weights_only=True)
    del state["config"]["summary_sees_positions"]  # as written before the option existed
    torch.save(state, path)
    back = DQNAgent.load(path)
    assert back.config.summary_sees_positions is True
    np.testing.assert_allclose(back.q_values(obs[0].numpy()), old.q_values(obs[0].numpy()), rtol=1e-6)
    assert DQNConfig().summary_sees_positions is False


def test_first_look_preview_takes_the_heuristics_top_frame_then_the_agents_looks():
    """``first_look="preview"``: every episode, greedy or in training, opens with the preview's
    top candidate; then the agent looks (here: the first frames not yet seen)."""
    fs = make_toy_features(num_clips=6, num_positions=8, informative=5, seed=1)  # motion peaks at frame 5
    preview = FrameSamplingEnv(fs, ToyClassifier(3), EnvConfig(max_frames=3, target_frames=2, first_look="preview"))
    plain = FrameSamplingEnv(fs, ToyClassifier(3), EnvConfig(max_frames=3, target_frames=2))
    for clip in range(6):
        assert run_policy(NeverStops(), preview, clip)[0] == [5, 0, 1]
        assert run_policy(NeverStops(), plain, clip)[0] == [0, 1, 2]
        assert run_policy(NeverStops(), preview, clip, max_frames=1)[0] == [5]
        assert run_policy(NeverStops(), preview, clip, max_frames=2, answer=False)[0] == [5, 0]
    assert cap_results(NeverStops(), preview, (1,))[1]["accuracy"] == 1.0  # the informative frame first
    agent = DQNAgent(preview.obs_dim, 9, DQNConfig(hidden=8, batch_size=4, seed=0))
    RLTrainer(preview, agent, seed=0).fit(5, progress=False)
    first = [agent.buffer.actions[i] for i in range(agent.buffer.size) if agent.buffer.obs[i][3 + 3:3 + 3 + 8].sum() == 0]
    assert first == [5] * 5  # each training episode's first transition: the preview's look
    with pytest.raises(ValueError, match="first_look"):
        EnvConfig(first_look="middle")


def test_the_preview_prior_makes_the_untrained_agent_the_preview_heuristic():
    """With ``prior_weight`` the untrained greedy look is the top of the preview the
    episode shows: the audio envelope on clips with sound, the motion preview on silent
    ones (the toy's motion peaks at frame 5, its audio elsewhere)."""
    fs = make_toy_features(num_clips=12, num_positions=8, informative=5, seed=3)
    rng = np.random.default_rng(0)
    fs = replace(fs, audio_env=rng.random((12, 8)).astype(np.float32), has_audio=np.arange(12) % 2 == 0)
    env = FrameSamplingEnv(fs, ToyClassifier(3), EnvConfig(max_frames=4))
    first = {}
    for weight in (0.0, 10.0):
        agent = DQNAgent(env.obs_dim, int(env.action_space.n),
                         DQNConfig(hidden=16, seed=0, position_slices=env.position_slices, prior_weight=weight))
        first[weight] = []
        for clip in range(12):
            obs, info = env.reset(options={"clip": clip})
            first[weight].append((agent.act(obs, info["action_mask"]), info["preview_action"]))
    assert all(look == preview for look, preview in first[10.0])
    assert {preview for _, preview in first[10.0][1::2]} == {5}  # silent clips: the motion peak
    assert len({preview for _, preview in first[10.0][::2]}) > 1  # with sound: where each clip is loudest
    assert sum(look == preview for look, preview in first[0.0]) < 12  # without the prior it is not the heuristic
    with pytest.raises(ValueError, match="position slices"):
        DQNAgent(10, 9, DQNConfig(position_slices=((0, 8),), prior_weight=1.0))
    with pytest.raises(ValueError, match="need position_slices"):
        DQNAgent(10, 9, DQNConfig(prior_weight=1.0))


def test_the_advantage_limit_bounds_how_far_the_agent_reorders_the_preview(tmp_path):
    """``advantage_limit`` 0: whatever the network's weights, every greedy look is the
    best unseen candidate of the preview (the agent learns only when to stop); a limit L:
    two looks' Q-values differ from the preview's difference by at most 2L."""
    fs = make_toy_features(num_clips=6, num_positions=8, informative=5, seed=4)
    env = FrameSamplingEnv(fs, ToyClassifier(3), EnvConfig(max_frames=4))
    n = fs.num_positions
    for limit in (0.0, 0.05):
        agent = DQNAgent(env.obs_dim, n + 1, DQNConfig(hidden=16, seed=1, position_slices=env.position_slices,
                                                        prior_weight=1.0, advantage_limit=limit))
        with torch.no_grad():  # weights unlike an untrained network's: per-look values far apart
            for p in agent.online.parameters():
                p.copy_(0.3 * torch.randn_like(p))
        for clip in range(fs.num_clips):
            obs, _ = env.reset(options={"clip": clip})
            learned = agent.q_values(obs)[:n] - fs.motion_env[clip]
            assert np.ptp(learned) <= 2 * limit + 1e-5
            if limit == 0.0:
                picks, _ = run_policy(agent, env, clip, max_frames=4, exact=True)
                assert picks == list(np.argsort(-fs.motion_env[clip], kind="stable")[:4])
        back = DQNAgent.load(agent.save(tmp_path / f"limit{limit}.pt"))  # the bound travels with the file
        assert back.config.advantage_limit == limit
        np.testing.assert_allclose(back.q_values(obs), agent.q_values(obs), rtol=1e-6)
    with pytest.raises(ValueError, match="advantage_limit"):
        DQNAgent(env.obs_dim, n + 1, DQNConfig(position_slices=env.position_slices, advantage_limit=0.1))
    with pytest.raises(ValueError, match="need position_slices"):  # the plain MLP has no per-look values to bound
        DQNAgent(env.obs_dim, n + 1, DQNConfig(advantage_limit=0.0))
