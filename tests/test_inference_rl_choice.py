"""Agent or preview heuristic, per clip: a sampler bundle that records (from notebook 05's
held-out comparison) that the agent scored below the preview heuristic for a setting
picks that heuristic's top frames on such a clip and says so; a record saying the agent
is at least as good, or no record at all, keeps the agent's picks. The record round-trips
through save/load, and the widget and ``predict --rl-sampler`` show which sampler chose."""
from __future__ import annotations

import json

import numpy as np
import pytest
import torch

from test_widget_rl import FLOW_DIM, MAX_FRAMES, NUM_POSITIONS, _value, tiny_sampler_parts

CLASSES = ["a", "b", "c"]
MOVING = range(16, 36)  # the frames in which the block of the generated clip moves


def comparison(silent_margin: float, sound_margin: float = 4.0, mean_frames: float = 2.4) -> dict:
    """A record as :meth:`helpers.rl.RLPipeline.heuristic_comparison` writes it (caps 1, 2)."""
    def setting(heuristic: str, margin: float) -> dict:
        return {"heuristic": heuristic,
                "caps": {1: {"agent": 0.5, "heuristic": 0.5 - margin / 100}, 2: {"agent": 0.7, "heuristic": 0.7}},
                "agent_vs_heuristic_min": min(margin, 0.0), "agent_mean_frames": mean_frames}

    return {"sound": setting("heuristic", sound_margin), "silent": setting("motion", silent_margin)}


@pytest.fixture(scope="module")
def silent_clip(tmp_path_factory):
    """48 frames without sound: a white block still, then moving 1…4 px per frame in
    frames 16–35 (faster later), then still again — the motion preview peaks there."""
    from helpers.synth.encode import write_video

    frames = np.full((48, 48, 80, 3), 40, np.uint8)
    x = 4
    for i in range(48):
        if i in MOVING:
            x += 1 + (i - MOVING.start) // 5
        frames[i, 16:32, x:x + 10] = 255
    return write_video(tmp_path_factory.mktemp("silent") / "silent.mp4", frames, 12)


def bundle(path, record: dict | None, classes: list[str] = CLASSES):
    from helpers.inference.rl_sampler import save_rl_sampler

    agent, head, projection, env_cfg = tiny_sampler_parts(classes)
    return save_rl_sampler(path, agent, head, projection=projection, env_config=env_cfg, encoder="flow",
                           num_positions=NUM_POSITIONS, classes=classes, feature_dim=FLOW_DIM, comparison=record)


def test_choose_sampler_reads_the_record_of_the_clips_setting():
    from helpers.inference.rl_sampler import choose_sampler

    below = choose_sampler(comparison(-12.5), has_audio=False, max_frames=8)
    assert (below.chosen_by, below.heuristic, below.budget) == ("heuristic: motion energy", "motion", 2)
    assert below.reason == "the agent scored 12.5 points below the motion heuristic on held-out silent clips"
    sound = choose_sampler(comparison(-12.5), has_audio=True, max_frames=8)
    assert (sound.chosen_by, sound.heuristic) == ("agent", None)
    assert sound.reason == ("the agent scored at least as well as the audio heuristic on held-out clips with "
                            "sound (worst cap +0.0 points)")
    audio = choose_sampler(comparison(3.0, sound_margin=-58.3), has_audio=True, max_frames=8)
    assert (audio.chosen_by, audio.heuristic, audio.budget) == ("heuristic: audio energy", "heuristic", 2)
    assert "58.3 points below the audio heuristic on held-out clips with sound" in audio.reason
    assert choose_sampler(comparison(-1.0, mean_frames=6.5), False, max_frames=3).budget == 3  # at most the cap
    assert choose_sampler(comparison(-1.0, mean_frames=0.2), False, max_frames=3).budget == 1
    no_mean = comparison(-1.0)
    no_mean["silent"]["agent_mean_frames"] = None
    assert choose_sampler(no_mean, False, max_frames=5).budget == 5
    none = choose_sampler(None, False, max_frames=8)
    assert none.chosen_by == "agent" and "records no comparison" in none.reason
    only_sound = {"sound": comparison(0.0)["sound"]}
    assert choose_sampler(only_sound, False, 8).chosen_by == "agent"
    unmeasured = comparison(-5.0)
    unmeasured["silent"]["agent_vs_heuristic_min"] = None
    assert choose_sampler(unmeasured, False, 8).chosen_by == "agent"
    on_val = comparison(-12.5)
    on_val["silent"]["split"] = "validation"  # the clips the record was measured on
    assert choose_sampler(on_val, False, 8).reason == ("the agent scored 12.5 points below the motion heuristic "
                                                       "on silent validation clips")


def test_below_the_heuristic_the_bundle_picks_the_motion_heuristics_top_frames(silent_clip, tmp_path):
    from helpers.inference.rl_sampler import load_rl_sampler
    from helpers.rl.baselines import energy_positions, sampler_positions

    s = load_rl_sampler(bundle(tmp_path / "rl_frame_sampler_below.pt", comparison(-12.5)))
    fs, _ = s.candidates(silent_clip)
    assert not fs.has_audio[0] and fs.motion_env[0].max() == 1.0
    expected = energy_positions(fs.motion_env[0], 2)  # mean frames 2.4 → 2
    np.testing.assert_array_equal(expected, sampler_positions("motion", fs, 2)[0])
    r = s.pick(silent_clip)
    assert r.chosen_by == "heuristic: motion energy"
    assert r.reason == "the agent scored 12.5 points below the motion heuristic on held-out silent clips"
    assert r.order == expected.tolist()
    assert r.frame_indices == [int(fs.frame_indices[0][p]) for p in expected]
    assert all(f in MOVING for f in r.frame_indices)  # where the block moves
    # the classifier answers from exactly those frames
    mask = np.zeros((1, NUM_POSITIONS), bool)
    mask[0, expected] = True
    want = s.classifier.predict_proba(fs.features[:1], fs.times[:1], mask)[0]
    np.testing.assert_allclose(r.probabilities, want, atol=1e-6)
    assert r.frames.shape[0] == 2 and r.label in CLASSES


def test_at_least_as_good_or_no_record_the_agent_picks(silent_clip, tmp_path):
    from helpers.inference.rl_sampler import load_rl_sampler

    plain = load_rl_sampler(bundle(tmp_path / "rl_frame_sampler_plain.pt", None))
    assert plain.comparison is None
    agent = plain.pick(silent_clip)
    assert agent.chosen_by == "agent" and "records no comparison" in agent.reason
    assert len(agent.order) == MAX_FRAMES
    record = comparison(0.0)
    record["silent"]["caps"][1]["agent"] = 0.6  # above the heuristic's 0.5 at one cap, level at the other
    ok = load_rl_sampler(bundle(tmp_path / "rl_frame_sampler_ok.pt", record)).pick(silent_clip)
    assert ok.chosen_by == "agent" and "at least as well as the motion heuristic" in ok.reason
    assert ok.order == agent.order and ok.frame_indices == agent.frame_indices
    np.testing.assert_allclose(ok.probabilities, agent.probabilities, atol=1e-6)


def test_the_record_round_trips_through_save_and_load(tmp_path):
    from helpers.inference.rl_sampler import load_rl_sampler

    record = comparison(-12.5, sound_margin=-58.3)
    assert load_rl_sampler(bundle(tmp_path / "rl_frame_sampler_dqn.pt", record)).comparison == record


def test_save_pipeline_sampler_records_the_pipelines_comparison(tmp_path):
    """What notebook 05 saves: the pipeline's own held-out figures, per setting."""
    from helpers.inference.rl_sampler import load_rl_sampler, save_pipeline_sampler
    from helpers.rl import DQNAgent, DQNConfig, EnvConfig, FeatureHead, FrameSamplingEnv
    from helpers.rl.evaluate import cap_results, evaluate_agent
    from helpers.rl.pipeline import PipelineConfig, RLPipeline, sampler_curves
    from helpers.rl.trainer import RLHistory
    from rl_toy import make_toy_features

    fs = make_toy_features(num_clips=12, num_positions=8, feature_dim=4)
    fs.meta["encoder"] = "flow"
    torch.manual_seed(0)
    head = FeatureHead(fs.feature_dim, len(fs.classes), dim=16, heads=2).eval()
    cfg = PipelineConfig(data_dir=tmp_path, cache_dir=tmp_path, budgets=(1, 2, 4))
    env = FrameSamplingEnv(fs, head, EnvConfig(max_frames=4, target_frames=2))
    silent = FrameSamplingEnv(fs, head, EnvConfig(max_frames=4, target_frames=2, use_audio=False))
    agent = DQNAgent(env.obs_dim, int(env.action_space.n), DQNConfig(hidden=16, seed=0))
    curves, uniform_all = sampler_curves(fs, head, cfg)
    pipe = RLPipeline(cfg, fs, fs, head, env, env, agent, RLHistory(), curves, uniform_all,
                      evaluate_agent(agent, env), agent_caps=cap_results(agent, env, (1, 2)),
                      no_audio_result=evaluate_agent(agent, silent), no_audio_caps=cap_results(agent, silent, (1, 2)))
    path = save_pipeline_sampler(tmp_path / "rl_frame_sampler_dqn.pt", pipe)
    loaded = load_rl_sampler(path).comparison
    assert loaded == pipe.heuristic_comparison()
    assert set(loaded) == {"sound", "silent"} and set(loaded["silent"]["caps"]) == {1, 2}
    assert loaded["silent"]["caps"][2]["heuristic"] == curves["motion"][2]
    summary = pipe.summary()
    assert round(loaded["silent"]["agent_vs_heuristic_min"], 4) == summary["silent_agent_vs_heuristic_min"]


@pytest.fixture(scope="module")
def below_file(predictor, tmp_path_factory):
    return bundle(tmp_path_factory.mktemp("rl_below") / "rl_frame_sampler_dqn.pt", comparison(-12.5),
                  predictor.class_names)


def test_widget_says_which_sampler_chose_and_why(below_file, silent_clip, predictor, tmp_path):
    from helpers.inference.rl_sampler import load_rl_sampler
    from helpers.widget import handle_upload, rl_html

    r = handle_upload(_value("silent.mp4", silent_clip.read_bytes()), predictor,
                      rl_sampler=load_rl_sampler(below_file), workdir=tmp_path)
    assert r.ok and r.rl_error is None and r.rl.chosen_by == "heuristic: motion energy"
    q = r.rl_prediction
    assert q.sampler.startswith("rl (") and "heuristic: motion energy" in q.sampler and "12.5 points" in q.sampler
    assert set(q.frame_indices) == set(r.rl.frame_indices)
    text = rl_html(r)
    assert "used the heuristic: motion energy ranking: its top 2 of 8 candidate frames" in text
    assert ("Chosen by: <b>heuristic: motion energy</b>, because the agent scored 12.5 points below the motion "
            "heuristic on held-out silent clips.") in text


def test_cli_says_which_sampler_chose_and_why(smoke_model, below_file, silent_clip, capsys):
    from helpers.inference import main

    args = [str(silent_clip), "--checkpoint", str(smoke_model.checkpoint), "--runtime", "torch",
            "--rl-sampler", str(below_file)]
    assert main(args + ["--json"]) == 0
    rl = json.loads(capsys.readouterr().out.strip().splitlines()[-1])["rl"]
    assert rl["chosen_by"] == "heuristic: motion energy" and "12.5 points below" in rl["reason"]
    assert len(rl["frame_indices"]) == 2 and all(f in MOVING for f in rl["frame_indices"])
    assert main(args) == 0
    text = capsys.readouterr().out
    assert "RL sampler rl_frame_sampler_dqn.pt: heuristic: motion energy picked frames" in text
    assert ("chosen by heuristic: motion energy, because the agent scored 12.5 points below the motion heuristic "
            "on held-out silent clips") in text


def test_a_pick_encodes_only_the_frames_looked_at_and_matches_encoding_every_candidate(silent_clip, tmp_path):
    from helpers.inference.rl_sampler import load_rl_sampler
    from helpers.rl.env import FrameSamplingEnv
    from helpers.rl.trainer import run_policy

    s = load_rl_sampler(bundle(tmp_path / "rl_frame_sampler_lazy.pt", None))
    encoded = []
    encode = s._encode
    s._encode = lambda frames, after: encoded.append(len(frames)) or encode(frames, after)
    r = s.pick(silent_clip)
    assert sum(encoded) == len(r.order) == MAX_FRAMES < NUM_POSITIONS  # one per look, no candidate twice
    encoded.clear()
    fs, _ = s.candidates(silent_clip)  # every candidate encoded up front
    assert encoded == [NUM_POSITIONS]
    env = FrameSamplingEnv(fs, s.classifier, s.env_config, s.projection)
    with torch.no_grad():
        order, _ = run_policy(s.agent, env, 0)
    assert r.order == order
    np.testing.assert_allclose(r.probabilities, env.probs, atol=1e-6)


def test_a_recorded_cap_limits_the_agents_looks(silent_clip, tmp_path):
    from helpers.inference.rl_sampler import choose_sampler, load_rl_sampler

    record = comparison(0.0)
    record["silent"]["cap"] = 2
    choice = choose_sampler(record, has_audio=False, max_frames=MAX_FRAMES)
    assert choice.chosen_by == "agent" and choice.budget == 2 and choice.reason.endswith("looks at most 2")
    assert choose_sampler(record, has_audio=True, max_frames=MAX_FRAMES).budget is None  # no cap for sound
    free = load_rl_sampler(bundle(tmp_path / "rl_frame_sampler_free.pt", comparison(0.0))).pick(silent_clip)
    capped = load_rl_sampler(bundle(tmp_path / "rl_frame_sampler_cap.pt", record)).pick(silent_clip)
    assert len(free.order) == MAX_FRAMES > 2
    assert capped.order == free.order[:2]  # the same first looks, cut at the cap


def test_a_heuristic_that_replaces_the_agent_runs_at_its_own_recorded_budget():
    from helpers.inference.rl_sampler import choose_sampler

    record = comparison(-8.3, mean_frames=4.6)
    assert choose_sampler(record, has_audio=False, max_frames=MAX_FRAMES).budget == 3  # 4.6 → 5, capped at 3
    record["silent"]["heuristic_cap"] = 1  # the heuristic is within a point of U* with one frame
    choice = choose_sampler(record, has_audio=False, max_frames=MAX_FRAMES)
    assert choice.heuristic == "motion" and choice.budget == 1


def test_where_the_agent_saves_no_frames_uniform_sampling_at_k_star_picks_and_decodes_only_its_frames(
        silent_clip, tmp_path, monkeypatch):
    from helpers.inference.rl_sampler import UNIFORM, choose_sampler, load_rl_sampler
    from helpers.rl.baselines import uniform_positions
    from helpers.video import PyAVReader

    record = comparison(4.0)
    record["silent"].update(uniform_k=2, frames_saved_ratio=0.5)  # the agent needs more frames than uniform's 2
    choice = choose_sampler(record, has_audio=False, max_frames=MAX_FRAMES)
    assert (choice.chosen_by, choice.heuristic, choice.budget) == (UNIFORM, "uniform", 2)
    assert "saved no frames against uniform sampling" in choice.reason
    below = comparison(-4.0)  # the agent below the heuristic, which gets there with fewer frames than uniform
    below["silent"].update(uniform_k=2, frames_saved_ratio=0.5, heuristic_cap=1)
    assert choose_sampler(below, has_audio=False, max_frames=MAX_FRAMES).heuristic == "motion"
    below["silent"]["heuristic_cap"] = None  # a heuristic that never gets there: uniform
    assert choose_sampler(below, has_audio=False, max_frames=MAX_FRAMES).chosen_by == UNIFORM
    record["silent"].update(heuristic_cap=None, frames_saved_ratio=3.0)  # the agent saves frames: it picks
    assert choose_sampler(record, has_audio=False, max_frames=MAX_FRAMES).chosen_by == "agent"
    record["silent"]["frames_saved_ratio"] = None  # it never reaches uniform's best
    s = load_rl_sampler(bundle(tmp_path / "rl_frame_sampler_uniform.pt", record))
    decoded: list[int] = []
    real = PyAVReader.frames
    monkeypatch.setattr(PyAVReader, "frames", lambda self, idx, size=None: decoded.append(len(idx)) or real(self, idx, size))
    r = s.pick(silent_clip)
    assert r.chosen_by == UNIFORM and r.order == uniform_positions(NUM_POSITIONS, 2).tolist()
    assert decoded == [4]  # the two uniform candidates and their motion partners, no preview pass
    assert r.frames.shape[0] == 2 and r.frames.max() > 0 and r.label in CLASSES


def test_without_its_own_answer_a_pick_is_the_same_and_encodes_less(silent_clip, tmp_path, monkeypatch):
    """``pick(answer=False)`` (the model answers from the picks): the same looks, no
    classifier answer, the last look encoded for nobody; uniform sampling decodes its two
    frames and not their motion partners; a heuristic encodes nothing."""
    from helpers.inference.rl_sampler import UNIFORM, load_rl_sampler
    from helpers.video import PyAVReader

    s = load_rl_sampler(bundle(tmp_path / "rl_frame_sampler_quiet.pt", None))
    encoded: list[int] = []
    encode = s._encode
    s._encode = lambda frames, after: encoded.append(len(frames)) or encode(frames, after)
    full = s.pick(silent_clip)
    assert sum(encoded) == len(full.order) == MAX_FRAMES
    encoded.clear()
    quiet = s.pick(silent_clip, answer=False)
    assert quiet.order == full.order and quiet.frame_indices == full.frame_indices
    np.testing.assert_array_equal(quiet.frames, full.frames)
    assert quiet.probabilities is None and quiet.top == [] and quiet.label is None
    assert sum(encoded) == MAX_FRAMES - 1  # every look the agent observes, not the last
    record = comparison(0.0)
    record["silent"]["cap"] = 1
    one = load_rl_sampler(bundle(tmp_path / "rl_frame_sampler_one.pt", record))
    one._encode = s._encode
    encoded.clear()
    assert one.pick(silent_clip, answer=False).order == full.order[:1] and encoded == []
    below = load_rl_sampler(bundle(tmp_path / "rl_frame_sampler_below2.pt", comparison(-12.5)))
    below._encode = s._encode
    assert below.pick(silent_clip, answer=False).chosen_by == "heuristic: motion energy" and encoded == []
    record = comparison(4.0)
    record["silent"].update(uniform_k=2, frames_saved_ratio=None)
    uniform = load_rl_sampler(bundle(tmp_path / "rl_frame_sampler_u.pt", record))
    decoded: list[int] = []
    real = PyAVReader.frames
    monkeypatch.setattr(PyAVReader, "frames", lambda self, idx, size=None: decoded.append(len(idx)) or real(self, idx, size))
    u = uniform.pick(silent_clip, answer=False)
    assert u.chosen_by == UNIFORM and decoded == [2] and u.frames.shape[0] == 2 and u.frames.max() > 0
    uniform.encoder, uniform.resize = "pixels", (12, 20)  # an encoder that reads small frames
    assert uniform.pick(silent_clip, answer=False).frames.shape == (2, 48, 80, 3)  # the model's: as stored


def test_predict_video_with_the_rl_sampler_answers_from_its_picks(silent_clip, predictor, tmp_path, monkeypatch):
    """``predict_video(…, sampler=…)``: the model's answer from exactly the frames the
    sampler picks (as the widget's RL answer), by instance, path or "rl" (the newest
    saved bundle); no saved bundle and an unreadable file say so."""
    from helpers.inference import InferenceError, predict_video
    from helpers.inference.rl_sampler import RLSamplerError, load_rl_sampler, predict_on_picks
    path = bundle(tmp_path / "models" / "rl_frame_sampler_dqn.pt", None)
    s = load_rl_sampler(path)
    pick = s.pick(silent_clip)
    want = predict_on_picks(silent_clip, predictor, pick, 5, s.name)
    for spec in (s, path, str(path)):
        got = predict_video(silent_clip, predictor, sampler=spec)
        assert set(got.frame_indices) == set(pick.frame_indices)  # each repeated to the clip model's length
        np.testing.assert_allclose(got.probabilities, want.probabilities, atol=1e-6)
        assert got.sampler == want.sampler
    monkeypatch.setenv("HELPERS_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HELPERS_DATA_DIR", str(tmp_path / "data"))  # its cache holds no sampler either
    np.testing.assert_allclose(predict_video(silent_clip, predictor, sampler="rl").probabilities,
                               want.probabilities, atol=1e-6)
    monkeypatch.setenv("HELPERS_MODELS_DIR", str(tmp_path / "none"))
    with pytest.raises(RLSamplerError, match="notebooks/05_rl_frame_sampling.ipynb"):
        predict_video(silent_clip, predictor, sampler="rl")
    bad = tmp_path / "bad.mp4"
    bad.write_bytes(b"not a video at all" * 100)
    with pytest.raises(InferenceError, match="cannot read this video"):
        predict_video(bad, predictor, sampler=s)


def test_the_audio_heuristic_reads_the_sound_then_decodes_only_the_frames_it_picks(silent_clip, tmp_path, monkeypatch):
    """With sound and the agent below the audio heuristic, a pick reads the envelope and
    decodes just its top frames (their motion partners only where the classifier
    answers): the same picks as ranking the full candidate pass, inside the loud part."""
    from helpers.inference.rl_sampler import load_rl_sampler
    from helpers.rl.baselines import energy_positions
    from helpers.synth.encode import write_video
    from helpers.video import PyAVReader, open_video

    with open_video(silent_clip) as reader:
        frames = reader.frames(list(range(48)))
    t = np.arange(4 * 16000) / 16000  # a tone while the block moves (frames 16-35 at 12 fps), quiet noise else
    loud = (t >= MOVING.start / 12) & (t < MOVING.stop / 12)
    wave = np.where(loud, 0.5 * np.sin(2 * np.pi * 440 * t), 0.01 * np.random.default_rng(0).standard_normal(t.size))
    clip = write_video(tmp_path / "sound.mp4", frames, 12, audio=wave.astype(np.float32))
    s = load_rl_sampler(bundle(tmp_path / "rl_frame_sampler_audio.pt", comparison(0.0, sound_margin=-20.0)))
    fs, _ = s.candidates(clip)
    expected = energy_positions(fs.audio_env[0], 2)
    decoded: list[int] = []
    real = PyAVReader.frames
    monkeypatch.setattr(PyAVReader, "frames", lambda self, idx, size=None: decoded.append(len(idx)) or real(self, idx, size))
    quiet = s.pick(clip, answer=False)
    assert quiet.chosen_by == "heuristic: audio energy" and sorted(quiet.order) == expected.tolist()
    assert decoded == [2] and all(f in MOVING for f in quiet.frame_indices)
    assert (quiet.frames.reshape(2, -1).max(1) > 0).all()  # both decoded, not left black
    decoded.clear()
    full = s.pick(clip)
    assert full.order == quiet.order and decoded == [4] and full.label in CLASSES
