"""MultiModalVideoModel (model B): audio present / masked / absent, any subset of frames
at any times, the sync pairs and head, captions, encoders, state_dict round trip."""
import io

import pytest
import torch
import torch.nn.functional as F

from helpers.models import MultiModalConfig, MultiModalVideoModel, make_demo_batch, make_sync_pairs, shift_audio
from helpers.models.backbones import MOBILEVIT_TINY, FrameEncoder


@pytest.fixture(scope="module")
def batch() -> dict:
    return make_demo_batch(batch_size=2, num_frames=4, size=32, audio_mask=[True, False])


def build(batch, **overrides) -> MultiModalVideoModel:
    torch.manual_seed(0)
    return MultiModalVideoModel(MultiModalConfig.smoke(**overrides).with_captions(batch["caption"])).eval()


@pytest.fixture(scope="module")
def model(batch) -> MultiModalVideoModel:
    return build(batch)


def test_demo_batch_follows_the_batches_contract(batch):
    assert batch["video"].shape == (2, 3, 4, 32, 32) and batch["video"].dtype == torch.float32
    assert batch["frame_indices"].dtype == torch.int64 and batch["frame_indices"].shape == (2, 4)
    assert batch["frame_times"].dtype == torch.float32
    torch.testing.assert_close(batch["frame_times"][0], torch.tensor([0.0, 0.125, 0.25, 0.375]))
    assert batch["audio"].shape == (2, 8000)  # 4 frames / 8 fps = 0.5 s at 16 kHz
    assert batch["audio_mel"].shape == (2, 64, 51) and batch["audio_mel"].dtype == torch.float32
    assert batch["audio_mask"].tolist() == [True, False] and batch["audio"][1].abs().sum() == 0
    assert batch["label"].tolist() == [0, 1] and len(batch["caption"]) == len(batch["path"]) == 2


@pytest.mark.parametrize("audio", ["wav2vec2", "logmel"])
def test_forward_with_audio_returns_every_output(batch, audio):
    m = build(batch, audio=audio)
    ids = m.caption_targets(batch["caption"])
    with torch.no_grad():
        out = m.forward_batch(batch, caption_ids=ids)
    s = out["audio_features"].shape[1]
    # 8000 samples through convs (k10 s5, 3x k8 s4) -> 23 tokens; 51 mel frames / 4 (ceil) -> 13
    assert s == (23 if audio == "wav2vec2" else 13)
    assert out["logits"].shape == (2, 5) and out["sync_logits"].shape == (2,)
    assert out["caption_logits"].shape == (2, ids.shape[1], len(m.tokenizer))
    assert out["video_features"].shape == (2, 4, 32) and out["pooled"].shape == (2, 64)
    w = out["attention_weights"]
    assert w["video_to_audio"].shape == (2, 4, s) and w["audio_to_video"].shape == (2, s, 4)
    torch.testing.assert_close(w["video_to_audio"][0].sum(-1), torch.ones(4))  # clip with audio
    assert w["video_to_audio"][1].abs().sum() == 0  # clip without audio: nothing attended
    assert out["memory"].shape == (2, 4 + s + 3, 32)  # frames, audio tokens, the motion and two colour tokens
    assert out["memory_mask"][0].all() and out["memory_mask"][1].tolist() == [True] * 4 + [False] * s + [True] * 3
    for v in (out["logits"], out["sync_logits"], out["caption_logits"]):
        assert torch.isfinite(v).all()


def test_missing_audio_is_masked_not_zero_filled(model, batch):
    """The clip without audio gets exactly the video-only result, whatever its waveform holds."""
    noisy = dict(batch, audio=batch["audio"].clone())
    noisy["audio"][1] = torch.randn(8000)
    no_audio = {k: v for k, v in batch.items() if k not in ("audio", "audio_mel", "audio_mask")}
    with torch.no_grad():
        a = model.forward_batch(batch)
        b = model.forward_batch(noisy)
        video_only = model.forward_batch(no_audio)
    torch.testing.assert_close(a["logits"][1], b["logits"][1], rtol=0, atol=1e-6)
    torch.testing.assert_close(a["logits"][1], video_only["logits"][1], rtol=0, atol=1e-5)
    assert video_only["attention_weights"] is None and video_only["audio_features"] is None
    assert (a["logits"][0] - video_only["logits"][0]).abs().max() > 1e-4  # audio does matter when present


def test_all_clips_without_audio_train_without_nan(batch):
    m = build(batch).train()
    silent = dict(batch, audio_mask=torch.tensor([False, False]))
    out = m.forward_batch(silent, caption_ids=m.caption_targets(batch["caption"]))
    loss = F.cross_entropy(out["logits"], batch["label"]) + out["caption_logits"].logsumexp(-1).mean()
    loss.backward()
    grads = [p.grad for p in m.parameters() if p.grad is not None]
    assert grads and all(torch.isfinite(g).all() for g in grads)


def test_gradients_reach_vision_temporal_audio_fusion_and_heads(batch):
    m = build(batch).train()
    two_seconds = make_demo_batch(batch_size=2, num_frames=8, size=32, fps=4.0)
    pairs = make_sync_pairs(two_seconds, generator=torch.Generator().manual_seed(0))
    ids, valid = m.encode_captions(pairs["caption"])
    out = m.forward_batch(pairs, caption_ids=ids)
    caption_loss = m.caption_loss(out["caption_logits"], ids, valid)
    expected = F.cross_entropy(out["caption_logits"][:, :-1].transpose(1, 2), ids[:, 1:], ignore_index=0)
    torch.testing.assert_close(caption_loss, expected)
    loss = (F.cross_entropy(out["logits"], pairs["label"])
            + F.binary_cross_entropy_with_logits(out["sync_logits"], pairs["sync_label"]) + caption_loss)
    loss.backward()
    parts = {"vision": m.vision, "temporal": m.temporal, "audio": m.audio_encoder.proj, "fusion": m.fusion,
             "classifier": m.classifier, "sync": m.sync_head, "caption": m.caption}
    for name, part in parts.items():
        total = sum(p.grad.abs().sum() for p in part.parameters() if p.grad is not None)
        assert total > 0, f"no gradient reached {name}"


@pytest.mark.parametrize("temporal", ["transformer", "lstm"])
def test_any_subset_of_frames_at_any_times(batch, temporal):
    m = build(batch, temporal=temporal)
    long = make_demo_batch(batch_size=2, num_frames=8, size=32, audio_mask=[True, False])
    picks = torch.tensor([6, 0, 3])  # three frames, out of order, irregular spacing
    sub = dict(long, video=long["video"][:, :, picks], frame_times=long["frame_times"][:, picks])
    with torch.no_grad():
        out = m.forward_batch(sub)
        sorted_pick = torch.tensor([0, 3, 6])
        ordered = m.forward_batch(dict(long, video=long["video"][:, :, sorted_pick],
                                       frame_times=long["frame_times"][:, sorted_pick]))
        single = m.forward_batch(dict(long, video=long["video"][:, :, :1], frame_times=long["frame_times"][:, :1]))
        moved = m.forward_batch(dict(sub, frame_times=sub["frame_times"] + 0.5))
    assert out["logits"].shape == (2, 5) and out["video_features"].shape == (2, 3, 32)
    assert single["logits"].shape == (2, 5)
    # frames come with their times, so their order in the batch does not matter
    torch.testing.assert_close(out["logits"], ordered["logits"], rtol=0, atol=1e-5)
    # ... and the times do: the same frames later in the clip give another result
    assert (out["logits"] - moved["logits"]).abs().max() > 1e-4


@pytest.mark.parametrize("temporal", ["transformer", "lstm"])
def test_frame_mask_equals_running_the_short_clip_alone(batch, temporal):
    m = build(batch, temporal=temporal, audio="none")
    video, times = batch["video"], batch["frame_times"]
    mask = torch.tensor([[True, True, True, True], [True, True, False, False]])
    with torch.no_grad():
        padded = m(video=video, frame_times=times, frame_mask=mask)
        alone = m(video=video[1:, :, :2], frame_times=times[1:, :2])
    torch.testing.assert_close(padded["logits"][1], alone["logits"][0], rtol=0, atol=1e-5)


def test_precomputed_frame_features_match_video_input(batch):
    model = build(batch, motion=False)  # the motion stream reads pixels: cached features have none
    with torch.no_grad():
        feats = model.vision(batch["video"])
        a = model.forward_batch(batch)
        b = model(frame_features=feats, frame_times=batch["frame_times"], audio=batch["audio"],
                  audio_mask=batch["audio_mask"])
    assert feats.shape == (2, 4, 576)
    torch.testing.assert_close(a["logits"], b["logits"], rtol=0, atol=1e-6)


def test_the_motion_stream_is_zero_for_a_still_clip_and_tells_left_from_right(model):
    """A still clip adds nothing (the pooled video features pass unchanged); a bar moving
    right and the same frames reversed (moving left) give opposite translation cues,
    whatever order the frames arrive in (they are put in time order first)."""
    still = torch.rand(1, 3, 1, 32, 32).expand(1, 3, 6, 32, 32)
    times = torch.arange(6.0)[None] / 8
    assert model.encode_motion(still, times).abs().max() == 0
    right = torch.zeros(1, 3, 6, 32, 32)
    for t in range(6):
        right[:, :, t, 8:24, 4 + 3 * t: 8 + 3 * t] = 1.0
    with torch.no_grad():
        m_right = model.encode_motion(right, times)
        m_left = model.encode_motion(right.flip(2), times)
        shuffled = torch.tensor([3, 0, 5, 1, 4, 2])
        m_shuffled = model.encode_motion(right[:, :, shuffled], times[:, shuffled])
    assert (m_right - m_left).abs().max() > 0.1
    torch.testing.assert_close(m_shuffled, m_right)
    from helpers.models.motion import motion_cues

    cues = motion_cues(right)[1][0, 0].item(), motion_cues(right.flip(2))[1][0, 0].item()
    assert cues[0] > 0.5 and cues[1] < -0.5  # translation x: + right, − left


def test_one_frame_has_the_motion_streams_zeros_without_running_it(model):
    """A single frame is a still clip: the same zeros the module computes, returned without
    its convolutions (a one-frame prediction pays nothing for motion); in a padded batch
    the one-frame clip gets zeros and the moving clip its own cues."""
    frame = torch.rand(1, 3, 1, 32, 32)
    calls = []
    hook = model.motion.reduce.register_forward_hook(lambda *_: calls.append(1))
    try:
        with torch.no_grad():
            fast = model.encode_motion(frame, torch.zeros(1, 1))
            assert not calls
            slow = model.motion.features(frame)
            assert calls
    finally:
        hook.remove()
    assert fast.shape == slow.shape == (1, model.motion.project.out_features)
    assert slow.abs().max() == 0 and fast.abs().max() == 0
    moving = torch.zeros(1, 3, 4, 32, 32)
    for t in range(4):
        moving[:, :, t, 8:24, 4 + 4 * t: 8 + 4 * t] = 1.0
    video = torch.cat([moving, torch.cat([frame, torch.zeros(1, 3, 3, 32, 32)], dim=2)])
    times = torch.arange(4.0).expand(2, 4) / 8
    mask = torch.tensor([[True] * 4, [True, False, False, False]])
    with torch.no_grad():
        both = model.encode_motion(video, times, mask)
        alone = model.encode_motion(moving, times[:1])
    assert both[1].abs().max() == 0 and both[0].abs().max() > 0.1
    torch.testing.assert_close(both[0], alone[0])


def test_a_config_saved_without_the_motion_stream_rebuilds_without_it(batch):
    saved = build(batch, motion=False).rebuild_config().to_dict()
    saved.pop("motion"), saved.pop("motion_size"), saved.pop("motion_hidden")  # a config from before
    old = MultiModalVideoModel(MultiModalConfig(**saved))
    assert old.motion is None and not any(k.startswith("motion") for k in old.state_dict())


def test_a_config_saved_before_the_turning_cue_rebuilds_and_loads_its_weights(batch):
    before = build(batch, motion_turning=False)
    saved = before.rebuild_config().to_dict()
    saved.pop("motion_turning")  # a config from before the cue existed
    old = MultiModalVideoModel(MultiModalConfig(**saved)).eval()
    old.load_state_dict(before.state_dict())  # strict: the same parameters
    assert old.motion.project.in_features == 5 * 16 and not old.motion.turning
    assert build(batch).motion.project.in_features == 6 * 16  # the presets read it
    with torch.no_grad():
        torch.testing.assert_close(old(**{k: batch[k] for k in ("video", "frame_times", "audio")})["logits"],
                                   before(**{k: batch[k] for k in ("video", "frame_times", "audio")})["logits"])


def test_sync_pairs_shift_audio_by_whole_seconds_and_run_the_head(model):
    wave = torch.arange(10.0).expand(2, 10)
    assert shift_audio(wave, torch.tensor([2, -3]))[0].tolist() == [8, 9, 0, 1, 2, 3, 4, 5, 6, 7]
    assert shift_audio(wave, torch.tensor([2, -3]))[1].tolist() == [3, 4, 5, 6, 7, 8, 9, 0, 1, 2]
    batch = make_demo_batch(batch_size=3, num_frames=16, size=32)  # 2 s window
    pairs = make_sync_pairs(batch, min_shift_s=0.5, generator=torch.Generator().manual_seed(0))
    assert pairs["video"].shape[0] == 6 and pairs["sync_label"].tolist() == [1, 1, 1, 0, 0, 0]
    assert pairs["caption"] == batch["caption"] * 2 and torch.equal(pairs["audio"][:3], batch["audio"])
    shifts = pairs["sync_shift_s"][3:]
    assert ((shifts.abs() >= 0.5) & (shifts.abs() <= 1.0)).all()
    for i in range(3):
        steps = int(round(shifts[i].item() * 16000))
        assert torch.equal(pairs["audio"][3 + i], torch.roll(batch["audio"][i], steps))
        mel_steps = int(round(shifts[i].item() * 100))
        assert torch.equal(pairs["audio_mel"][3 + i], torch.roll(batch["audio_mel"][i], mel_steps, dims=-1))
    with torch.no_grad():
        out = model.forward_batch(pairs)
    assert out["sync_logits"].shape == (6,) and torch.isfinite(out["sync_logits"]).all()
    with pytest.raises(ValueError, match="too short"):
        make_sync_pairs(make_demo_batch(1, 4, 32), min_shift_s=0.5)  # 0.5 s window


@pytest.mark.parametrize("decoder", ["small", "gpt2"])
def test_caption_generation_runs_and_stops(batch, decoder):
    m = build(batch, caption_decoder=decoder)
    for method in ("greedy", "beam"):
        texts = m.generate_captions(batch, method=method, beam_size=2, max_len=6)
        assert len(texts) == 2 and all(isinstance(t, str) for t in texts)
        assert all(len(t.split()) <= 5 for t in texts)  # at most max_len - 1 words


def test_state_dict_round_trip_gives_identical_outputs(model, batch):
    buf = io.BytesIO()
    torch.save({"model": model.state_dict(), "config": model.config.to_dict()}, buf)
    buf.seek(0)
    ckpt = torch.load(buf, weights_only=True)
    torch.manual_seed(99)
    twin = MultiModalVideoModel(MultiModalConfig(**ckpt["config"])).eval()
    twin.load_state_dict(ckpt["model"])
    ids = model.caption_targets(batch["caption"])
    with torch.no_grad():
        a, b = model.forward_batch(batch, ids), twin.forward_batch(batch, ids)
    for key in ("logits", "sync_logits", "caption_logits"):
        assert torch.equal(a[key], b[key]), key
    assert twin.tokenizer.itos == model.tokenizer.itos
    assert model.generate_captions(batch) == twin.generate_captions(batch)


@pytest.mark.parametrize("name,dim", [("mobilenet_v3_small", 576), ("efficientnet_b0", 1280), ("mobilevit", 64)])
def test_frame_encoders_give_one_feature_per_frame(name, dim):
    torch.manual_seed(0)
    enc = FrameEncoder(name, pretrained=False, mobilevit_config=MOBILEVIT_TINY)
    x = torch.randn(2, 3, 3, 32, 32)
    for bn in enc.modules():  # calibrate BatchNorm on x once: random-init eval outputs are ~0
        if isinstance(bn, torch.nn.modules.batchnorm._BatchNorm):
            bn.momentum = 1.0
    with torch.no_grad():
        enc.train()(x)
    enc.eval()
    with torch.no_grad():
        out = enc(x)
        alone = enc(x[:, :, 2:])  # frames are encoded independently
    assert out.shape == (2, 3, dim) and enc.out_dim == dim
    torch.testing.assert_close(alone[:, 0], out[:, 2], rtol=1e-3, atol=1e-4)
    assert (out[:, 0] - out[:, 1]).abs().max() > 1e-5


def test_config_errors_are_clear(batch):
    with pytest.raises(ValueError, match="with_captions"):
        MultiModalVideoModel(MultiModalConfig.smoke())
    with pytest.raises(ValueError, match="audio must be"):
        build(batch, audio="mfcc")
    m = MultiModalVideoModel(MultiModalConfig.smoke(caption_decoder="none", audio="none"))
    assert m.caption is None and m.forward_batch(batch)["caption_logits"] is None
    with pytest.raises(ValueError, match="caption_decoder='none'"):
        m.generate_captions(batch)


def _features_after_a_few_steps(vision_norm: str) -> tuple[torch.Tensor, torch.Tensor]:
    """Per-frame features (eval and train mode) of 6 different clips after 5 AdamW steps
    of the smoke model, the situation of a short smoke training."""
    torch.manual_seed(0)
    cfg = MultiModalConfig.smoke(num_classes=3, audio="none", caption_decoder="none", vision_norm=vision_norm)
    m = MultiModalVideoModel(cfg).train()
    opt = torch.optim.AdamW(m.parameters(), lr=1e-3)
    for step in range(5):
        b = make_demo_batch(batch_size=3, num_frames=4, size=32, seed=step)
        loss = F.cross_entropy(m.forward_batch(b)["logits"], b["label"])
        opt.zero_grad()
        loss.backward()
        opt.step()
    clips = make_demo_batch(batch_size=6, num_frames=4, size=32, seed=99)["video"]
    with torch.no_grad():
        eval_feats = m.eval().vision(clips)
        train_feats = m.train().vision(clips)
    return eval_feats, train_feats


def test_smoke_frame_encoder_gives_informative_features_in_eval_mode():
    """Regression: the smoke encoder used to give the same features for every
    clip in eval mode (std ~1e-8) — BatchNorm's init running statistics, barely moved at
    momentum 0.01, do not normalise a random-init MobileNetV3 and the signal vanishes.
    With GroupNorm (``vision_norm="group"``, the smoke preset) eval = train mode."""
    assert MultiModalConfig.smoke().vision_norm == "group"
    eval_feats, train_feats = _features_after_a_few_steps("group")
    assert eval_feats.shape == (6, 4, 576)
    spread = eval_feats.std(dim=0).mean()  # across the 6 clips, per frame and channel
    assert spread > 0.01 * eval_feats.abs().mean() and spread > 1e-3
    torch.testing.assert_close(eval_feats, train_feats)  # no train/eval gap at all
    # the cause, pinned: the same model with the network's own BatchNorm collapses
    collapsed, _ = _features_after_a_few_steps("batch")
    assert collapsed.std(dim=0).max() < 1e-5


def test_batchnorm_to_groupnorm_replaces_every_batchnorm():
    from helpers.models.multimodal import batchnorm_to_groupnorm

    enc = batchnorm_to_groupnorm(FrameEncoder("mobilenet_v3_small", pretrained=False))
    norms = [m for m in enc.modules() if isinstance(m, torch.nn.GroupNorm)]
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in enc.modules())
    assert len(norms) == 34 and all(m.num_channels % m.num_groups == 0 and m.num_groups <= 8 for m in norms)
    assert {m.num_groups for m in norms if m.num_channels == 24} == {8}  # largest divisor ≤ 8
    with pytest.raises(ValueError, match="vision_norm"):
        MultiModalVideoModel(MultiModalConfig.smoke(vision_norm="layer", caption_decoder="none"))


def test_time_deltas_follow_time_not_input_order_and_skip_padding():
    from helpers.models.temporal import time_deltas

    feats = torch.tensor([[[5.0], [1.0], [3.0], [100.0]]])  # frames at t = 2, 0, 1 and a padded one
    times = torch.tensor([[2.0, 0.0, 1.0, 0.5]])
    mask = torch.tensor([[True, True, True, False]])
    d = time_deltas(feats, times, mask)
    assert d[0, :, 0].tolist() == [2.0, 0.0, 2.0, 0.0]  # 5-3, first in time, 3-1, padding
    assert time_deltas(feats[:, :3], times[:, :3])[0, :, 0].tolist() == [2.0, 0.0, 2.0]


def test_the_caption_loss_reaches_the_colour_tokens_but_not_the_classifiers_features(batch):
    """The summary of what the classifier reads is added to the decoder's memory read only:
    the caption loss trains the decoder, the colour tokens and the shared encoders through
    the memory, never the classifier-only motion fusion through the summary."""
    import torch.nn.functional as F

    m = build(batch, audio="logmel")
    assert m.colour is not None and m.caption_summary is not None and m.motion_fusion is not None
    ids = m.caption_targets(batch["caption"])
    out = m.forward_batch(batch, caption_ids=ids[:, :-1])
    loss = F.cross_entropy(out["caption_logits"].flatten(0, 1), ids[:, 1:].flatten())
    loss.backward()
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in m.colour.parameters())
    assert all(p.grad is not None for p in m.caption_summary.parameters())
    assert all(p.grad is None or p.grad.abs().sum() == 0 for p in m.motion_fusion.parameters())
    assert m.classifier[-1].weight.grad is None


def test_the_student_preset_is_the_full_models_inputs_with_small_parts():
    from helpers.models import MultiModalConfig, MultiModalVideoModel
    from helpers.models.audio import LogMelCNNEncoder
    from helpers.models.captioning import SmallCaptionDecoder

    full, student = MultiModalConfig.full(51), MultiModalConfig.student(51, vision_pretrained=False)
    assert (student.vision, student.audio, student.caption_decoder) == ("mobilenet_v3_small", "logmel", "small")
    assert student.vision_norm == full.vision_norm == "batch"  # ImageNet statistics where the weights load
    assert (student.motion, student.motion_turning, student.caption_summary) == (True, True, True)
    model = MultiModalVideoModel(student.with_captions(["a red ball moves left"])).eval()
    assert isinstance(model.audio_encoder, LogMelCNNEncoder) and isinstance(model.caption, SmallCaptionDecoder)
    assert model.audio_encoder.net[0].out_channels == student.audio_channels == 16
    plain = MultiModalConfig.smoke(3, audio="logmel", caption_decoder="none")
    assert MultiModalVideoModel(plain).audio_encoder.net[0].out_channels == 32  # configs saved before the field
    video, mel = torch.randn(1, 3, 16, 112, 112), torch.randn(1, 64, 1001)  # 16 frames of 112 px, 10 s of sound
    with torch.no_grad():
        out = model(video=video, frame_times=torch.linspace(0, 10, 16)[None], audio_mel=mel)
    assert out["logits"].shape == (1, 51) and out["audio_features"].shape == (1, 251, student.dim)
    assert sum(p.numel() for p in model.parameters()) < 4e6
