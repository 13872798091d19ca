"""The RL frame sampler in the upload path: a saved sampler bundle replayed on an
uploaded video (which frames the agent picks, in order), its classifier's answer and
the model's answer from those frames only, shown in the widget driven headlessly; an
agent saved without its classifier is reported in words, not used."""
from __future__ import annotations

import datetime as dt

import numpy as np
import pytest
import torch

NUM_POSITIONS = 8
MAX_FRAMES = 3
FLOW_DIM = 2 * 4 * 4 + 5  # helpers.rl.features.flow_features with grid 4


def tiny_sampler_parts(classes: list[str]):
    """An agent, classifier and projection of the right shapes. The agent's STOP value is
    pushed far down, so it looks at exactly MAX_FRAMES distinct frames — what it picks
    among them comes from its (seeded) Q-network and the classifier's outputs."""
    from helpers.rl import DQNAgent, DQNConfig, EnvConfig, FeatureHead

    torch.manual_seed(0)
    head = FeatureHead(FLOW_DIM, len(classes), dim=16, heads=2).eval()
    projection = np.random.default_rng(0).normal(size=(FLOW_DIM + 1, 4)).astype(np.float32)
    env_cfg = EnvConfig(max_frames=MAX_FRAMES, target_frames=2)
    # probabilities, confidence/entropy/margin, looked-at mask, budget, projection, audio, has-audio, motion
    obs_dim = len(classes) + 3 + NUM_POSITIONS + 1 + projection.shape[1] + NUM_POSITIONS + 1 + NUM_POSITIONS
    agent = DQNAgent(obs_dim, NUM_POSITIONS + 1, DQNConfig(hidden=16, seed=0))
    with torch.no_grad():
        agent.online.net[-1].bias[NUM_POSITIONS] = -1e3
    return agent, head, projection, env_cfg


@pytest.fixture(scope="module")
def sampler_file(predictor, tmp_path_factory):
    from helpers.inference.rl_sampler import save_rl_sampler

    agent, head, projection, env_cfg = tiny_sampler_parts(predictor.class_names)
    path = tmp_path_factory.mktemp("rl_models") / "rl_frame_sampler_dqn.pt"
    return save_rl_sampler(path, agent, head, projection=projection, env_config=env_cfg, encoder="flow",
                           num_positions=NUM_POSITIONS, classes=predictor.class_names, feature_dim=FLOW_DIM)


@pytest.fixture(scope="module")
def mp4(smoke_model, tmp_path_factory):
    from helpers.synth.encode import write_video

    return write_video(tmp_path_factory.mktemp("rl_clip") / "clip.mp4", smoke_model.best_frames, smoke_model.fps)


def _value(name: str, data: bytes) -> tuple[dict, ...]:
    return ({"name": name, "type": "video/mp4", "size": len(data), "content": memoryview(data),
             "last_modified": dt.datetime(2026, 1, 1, tzinfo=dt.timezone.utc)},)


def test_clip_indices_repeat_the_picks_in_time_order():
    from helpers.inference.rl_sampler import clip_indices

    assert clip_indices([9, 1, 5], 6).tolist() == [1, 1, 5, 5, 9, 9]
    assert clip_indices([4, 2], 3).tolist() == [2, 2, 4]
    with pytest.raises(ValueError):
        clip_indices([], 4)


def test_a_multimodal_model_reads_exactly_the_picked_frames(predictor, tmp_path):
    from helpers.inference import predict_video, predictor_from_model
    from helpers.inference.rl_sampler import on_frames
    from helpers.models import MultiModalConfig, MultiModalVideoModel
    from video_factory import make_video

    video = make_video(tmp_path / "tone.mp4", "mp4-h264", num_frames=30, audio_tone=(0.4, 440.0))
    cfg = MultiModalConfig.smoke(3).with_captions(["a box grows"])
    multimodal = predictor_from_model(MultiModalVideoModel(cfg).eval(), ["a", "b", "c"], num_frames=4,
                                      resize=(32, 40), crop=32)
    for picks in ([21, 3], [12]):
        result = predict_video(video, model=on_frames(multimodal, picks, "picks"), keep_frames=False)
        assert result.frame_indices == sorted(picks) and result.sampler == "picks"
    fixed = predict_video(video, model=on_frames(predictor, [21, 3], "picks"), keep_frames=False)
    assert fixed.frame_indices == [3] * (predictor.num_frames // 2) + [21] * (predictor.num_frames // 2)


def test_an_agent_saved_before_the_motion_preview_replays_without_it(predictor, mp4, tmp_path):
    from helpers.inference.rl_sampler import load_rl_sampler, save_rl_sampler
    from helpers.rl import DQNAgent, DQNConfig

    _, head, projection, env_cfg = tiny_sampler_parts(predictor.class_names)
    obs_dim = len(predictor.class_names) + 3 + NUM_POSITIONS + 1 + projection.shape[1] + NUM_POSITIONS + 1
    agent = DQNAgent(obs_dim, NUM_POSITIONS + 1, DQNConfig(hidden=16, seed=0))
    path = save_rl_sampler(tmp_path / "rl_frame_sampler_old.pt", agent, head, projection=projection,
                           env_config=env_cfg, encoder="flow", num_positions=NUM_POSITIONS,
                           classes=predictor.class_names, feature_dim=FLOW_DIM)
    state = torch.load(path, weights_only=True)
    del state["extra"]["sampler"]["env_config"]["use_motion"]  # what such a file holds
    torch.save(state, path)
    s = load_rl_sampler(path)
    assert s.env_config.use_motion is False
    assert 1 <= len(s.pick(mp4).order) <= MAX_FRAMES


def test_saved_sampler_replays_on_a_new_video(sampler_file, mp4, predictor):
    from helpers.inference.rl_sampler import load_rl_sampler
    from helpers.rl import DQNAgent

    s = load_rl_sampler(sampler_file)
    assert (s.encoder, s.num_positions, s.feature_dim, s.classes) == ("flow", 8, FLOW_DIM, predictor.class_names)
    r = s.pick(mp4)
    assert len(r.order) == MAX_FRAMES == len(set(r.order)) and all(0 <= o < NUM_POSITIONS for o in r.order)
    assert len(r.candidate_indices) == NUM_POSITIONS and r.candidate_indices == sorted(r.candidate_indices)
    assert r.frame_indices == sorted(r.candidate_indices[o] for o in r.order)
    assert r.frames.shape[0] == MAX_FRAMES and r.frames.dtype == np.uint8
    assert r.probabilities.sum() == pytest.approx(1.0) and r.label in predictor.class_names
    # the same file gives the same episode (nothing random at play time)
    again = load_rl_sampler(sampler_file).pick(mp4)
    assert again.order == r.order
    np.testing.assert_allclose(again.probabilities, r.probabilities, rtol=1e-6)
    # still an ordinary agent file
    assert DQNAgent.load(sampler_file).n_actions == NUM_POSITIONS + 1


def test_handle_upload_with_the_rl_sampler(sampler_file, mp4, predictor, tmp_path):
    from helpers.inference.rl_sampler import load_rl_sampler
    from helpers.widget import handle_upload, rl_html

    r = handle_upload(_value("clip.mp4", mp4.read_bytes()), predictor, rl_sampler=load_rl_sampler(sampler_file),
                      workdir=tmp_path)
    assert r.ok and r.rl_error is None and r.prediction.sampler == "uniform"
    q = r.rl_prediction
    assert q.sampler.startswith("rl (") and set(q.frame_indices) == set(r.rl.frame_indices)
    assert len(q.frame_indices) == predictor.num_frames and q.label in predictor.class_names
    assert set(r.prediction.frame_indices) != set(q.frame_indices)
    text = rl_html(r)
    assert f"looked at {MAX_FRAMES} of {NUM_POSITIONS} candidate frames" in text
    assert f"class='rl-label'>{r.rl.label}<" in text and f"class='rl-model-label'>{q.label}<" in text
    assert list(tmp_path.iterdir()) == []


def test_a_sampler_that_does_not_fit_is_reported_not_fatal(sampler_file, mp4, predictor, tmp_path):
    from helpers.inference.rl_sampler import load_rl_sampler
    from helpers.widget import handle_upload, rl_html

    s = load_rl_sampler(sampler_file)
    s.encoder = "pixels"  # 512 values per frame where the classifier expects 37
    r = handle_upload(_value("clip.mp4", mp4.read_bytes()), predictor, rl_sampler=s, workdir=tmp_path)
    assert r.ok and r.prediction is not None and r.rl is None
    assert "RL sampler failed" in r.rl_error and "512" in r.rl_error
    assert "rl-error" in rl_html(r)


def test_widget_shows_the_rl_frames(sampler_file, mp4, predictor, tmp_path):
    from helpers.widget import build_upload_widget

    w = build_upload_widget(predictor, rl_sampler=sampler_file, workdir=tmp_path)
    assert "RL frame sampler: rl_frame_sampler_dqn.pt (flow features, 8 candidates)" in w.note.value
    data = mp4.read_bytes()
    w.upload.set_state({"value": [{"name": "clip.mp4", "type": "video/mp4", "size": len(data),
                                   "content": memoryview(data), "last_modified": 1767225600000}]})
    w.button.click()
    res = w.last_result
    assert res.rl is not None and "class='predicted-label'" in w.result_html.value
    assert "class='rl-label'" in w.rl_html.value and "class='rl-model-label'" in w.rl_html.value
    assert w.rl_frames.value[:4] == b"\x89PNG"
    from PIL import Image
    import io

    strip = Image.open(io.BytesIO(w.rl_frames.value))
    assert strip.height == 64 + 14  # frames plus their labels
    # a new upload clears the RL part too
    w.upload.set_state({"value": [{"name": "broken.avi", "type": "video/x-msvideo", "size": 5000,
                                   "content": memoryview(b"RIFF" + bytes(4996)), "last_modified": 0}]})
    assert w.rl_html.value == "" and w.rl_frames.value == b""


def test_agent_without_classifier_is_explained(predictor, mp4, tmp_path):
    from helpers.inference.rl_sampler import RLSamplerError, find_rl_sampler, load_rl_sampler
    from helpers.widget import build_upload_widget

    agent, *_ = tiny_sampler_parts(predictor.class_names)
    old = agent.save(tmp_path / "models" / "rl_frame_sampler_dqn.pt", extra={"env_config": {}})
    with pytest.raises(RLSamplerError, match="saved without its classifier"):
        load_rl_sampler(old)
    with pytest.raises(RLSamplerError, match="not an RL agent file"):
        load_rl_sampler(predictor.checkpoint)
    assert find_rl_sampler(tmp_path / "models", tmp_path / "nowhere") == old
    assert find_rl_sampler(tmp_path / "nowhere") is None
    w = build_upload_widget(predictor, rl_sampler=old, workdir=tmp_path / "work")
    assert w.rl_sampler is None and "RL frame sampler not used" in w.note.value
    assert "saved without its classifier" in w.note.value
    w2 = build_upload_widget(predictor, rl_sampler=None, workdir=tmp_path / "work")
    assert "RL" not in w2.note.value and f"model {predictor.name} on torch" in w2.note.value


def test_cli_rl_sampler(smoke_model, sampler_file, mp4, capsys, tmp_path):
    import json

    from helpers.inference import main

    args = [str(mp4), "--checkpoint", str(smoke_model.checkpoint), "--runtime", "torch"]
    assert main(args + ["--rl-sampler", str(sampler_file), "--json"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    rl = out["rl"]
    assert rl["sampler"] == sampler_file.name and len(rl["looked"]) == MAX_FRAMES
    assert sorted(rl["looked"]) == rl["frame_indices"] and rl["model_top"][0]["label"] in smoke_model.class_names
    assert main(args + ["--rl-sampler", str(sampler_file)]) == 0
    text = capsys.readouterr().out
    assert "RL sampler rl_frame_sampler_dqn.pt looked at frames" in text and "from those frames only" in text
    junk = tmp_path / "rl_frame_sampler_junk.pt"
    junk.write_bytes(b"junk")
    assert main(args + ["--rl-sampler", str(junk)]) == 0  # the main answer still comes
    text = capsys.readouterr().out
    assert "RL sampler: " in text and "not an RL agent file" in text and "1. " in text


def test_replay_on_the_file_matches_the_episode_on_cached_features(tmp_path):
    """A (briefly) trained agent saved as a bundle picks, from the video file alone, the
    same frames it picks in notebook 05's environment over the cached features — so the
    widget shows what the sampler really does (flow features and audio envelope included)."""
    from helpers.inference.rl_sampler import load_rl_sampler, save_rl_sampler
    from helpers.rl import DQNAgent, DQNConfig, EnvConfig, FeatureHead, FrameSamplingEnv, RLTrainer, \
        cached_features, fit_projection, run_policy
    from helpers.synth import SynthConfig, generate

    data = tmp_path / "kin"
    generate("kinetics", data, SynthConfig(classes=2, clips_per_class=3, seconds=2.0, fps=8, size=(48, 32)),
             progress=False)
    fs = cached_features(None, data, "train", tmp_path / "cache", encoder="flow", num_positions=6, progress=False)
    assert fs.has_audio.all()  # the envelope is part of the observation being compared
    torch.manual_seed(0)
    head = FeatureHead(fs.feature_dim, len(fs.classes), dim=16, heads=2).eval()
    projection = fit_projection(fs, 3)
    env = FrameSamplingEnv(fs, head, EnvConfig(max_frames=4, target_frames=2), projection)
    agent = DQNAgent(env.obs_dim, int(env.action_space.n),
                     DQNConfig(hidden=16, batch_size=8, eps_decay_steps=60, seed=0, position_slices=env.position_slices))
    threads = torch.get_num_threads()
    torch.set_num_threads(1)  # tiny networks: a second thread only adds waiting (as helpers.rl.pipeline does)
    try:
        RLTrainer(env, agent).fit(40, progress=False)
    finally:
        torch.set_num_threads(threads)
    path = save_rl_sampler(tmp_path / "rl_frame_sampler_dqn.pt", agent, head, projection=projection,
                           env_config=env.config, encoder="flow", num_positions=6, classes=fs.classes,
                           feature_dim=fs.feature_dim)
    sampler = load_rl_sampler(path)
    for clip in range(fs.num_clips):
        cached, _ = run_policy(agent, env, clip)
        r = sampler.pick(fs.paths[clip])
        assert r.order == cached, clip
        assert r.candidate_indices == fs.frame_indices[clip].tolist()
        np.testing.assert_allclose(r.probabilities, env.probs, atol=1e-5)
