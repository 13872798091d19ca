"""The end-to-end packet-preview path decodes only the frames it picks; the RL path
previews on grey thumbnails and decodes each frame it looks at or picks once; the
wall-clock measurement times every path on every clip (structure only: timings are not
asserted)."""
from __future__ import annotations

import numpy as np
import pytest
import torch
from torch import nn

from test_rl_features import _clip_moving_in


class MeanFrameModel(nn.Module):
    """Logits from the clip's mean colour: enough to run predict_video."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, video: torch.Tensor) -> torch.Tensor:
        return self.fc(video.mean(dim=(2, 3, 4)))


@pytest.fixture()
def predictor():
    from helpers.inference import predictor_from_model

    return predictor_from_model(MeanFrameModel(), ["still", "moving"], num_frames=8, resize=(32, 40), crop=32)


@pytest.fixture()
def decoded_frames(monkeypatch):
    """Every frame index a PyAV reader is asked to decode, per call of ``frames``."""
    from helpers.video import PyAVReader

    calls: list[list[int]] = []
    real = PyAVReader.frames

    def frames(self, indices, size=None):
        calls.append(sorted({int(i) for i in np.asarray(indices).reshape(-1)}))
        return real(self, indices, size)

    monkeypatch.setattr(PyAVReader, "frames", frames)
    return calls


@pytest.fixture()
def thumbnail_reads(monkeypatch):
    """Every frame index a PyAV reader is asked for as a grey thumbnail, per call."""
    from helpers.video import PyAVReader

    calls: list[list[int]] = []
    real = PyAVReader.thumbnails

    def thumbnails(self, indices, size):
        calls.append(sorted({int(i) for i in np.asarray(indices).reshape(-1)}))
        return real(self, indices, size)

    monkeypatch.setattr(PyAVReader, "thumbnails", thumbnails)
    return calls


def test_the_packet_path_decodes_only_its_picks_inside_the_motion(tmp_path, predictor, decoded_frames):
    from helpers.inference.predict import predict_video
    from helpers.inference.rl_sampler import on_frames
    from helpers.rl.wallclock import packet_frames

    path = _clip_moving_in(tmp_path, 40, 65)
    picks = packet_frames(path, 16, 3)
    assert decoded_frames == []  # the preview decodes nothing
    assert len(picks) == 3 and ((picks >= 40) & (picks < 65)).all()
    result = predict_video(path, model=on_frames(predictor, picks, "packets 3"), keep_frames=False)
    assert decoded_frames == [sorted(picks.tolist())]  # predict_video decoded the three picks, no more
    assert sorted(set(result.frame_indices)) == sorted(picks.tolist()) and len(result.frame_indices) == 8


def test_measure_wall_clock_times_each_path_on_each_clip(tmp_path, predictor, decoded_frames, thumbnail_reads):
    from helpers.rl.wallclock import WALL_CLOCK_PATHS, measure_wall_clock, smallest_budget_reaching
    from helpers.video.sampling import uniform_indices

    paths = [_clip_moving_in(tmp_path, 40, 65)]
    out = measure_wall_clock(paths, predictor, num_positions=16, uniform_k=4, packets_k=2, warmup=0, runs=1)
    assert set(out["median_ms"]) == set(WALL_CLOCK_PATHS) - {"rl_e2e"}  # no sampler given
    assert all(len(v) == 1 for v in out["per_clip_ms"].values()) and out["rl_speedup"] is None
    assert out["packets_speedup"] == pytest.approx(out["median_ms"]["uniform_e2e"] / out["median_ms"]["packets_e2e"])
    # one round of the four paths: the decode preview reads grey thumbnails of the 16 candidates
    # and their partners, uniform decodes its 4 candidates, the packet path its 2 picks; the
    # packet preview decodes nothing
    idx = uniform_indices(80, 16)
    partners = np.unique(np.concatenate([idx, np.minimum(idx + 2, 79)]))
    assert sorted(len(c) for c in decoded_frames) == [2, 4]
    assert thumbnail_reads == [partners.tolist()]
    assert smallest_budget_reaching({1: 0.5, 2: 0.7, 4: 0.69, 8: 0.8}, 0.69) == 2
    assert smallest_budget_reaching({1: 0.5}, 0.6) is None


def test_the_rl_path_previews_on_thumbnails_and_decodes_each_frame_it_needs_once(tmp_path, predictor, decoded_frames,
                                                                                thumbnail_reads):
    from helpers.inference.rl_sampler import load_rl_sampler, save_rl_sampler
    from helpers.rl.wallclock import measure_wall_clock
    from helpers.video.sampling import uniform_indices
    from test_widget_rl import FLOW_DIM, MAX_FRAMES, NUM_POSITIONS, tiny_sampler_parts

    agent, head, projection, env_cfg = tiny_sampler_parts(["still", "moving"])
    sampler = load_rl_sampler(save_rl_sampler(tmp_path / "rl_frame_sampler.pt", agent, head, projection=projection,
                                              env_config=env_cfg, encoder="flow", num_positions=NUM_POSITIONS,
                                              classes=["still", "moving"], feature_dim=FLOW_DIM))
    paths = [_clip_moving_in(tmp_path, 40, 65)]
    out = measure_wall_clock(paths, predictor, num_positions=16, uniform_k=4, sampler=sampler, warmup=0, runs=1)
    assert set(out["median_ms"]) == {"packet_preview", "decode_preview", "uniform_e2e", "rl_e2e"}
    assert out["rl_speedup"] == pytest.approx(out["median_ms"]["uniform_e2e"] / out["median_ms"]["rl_e2e"])
    assert out["rl_frames"] == MAX_FRAMES and out["packets_speedup"] is None
    def with_partners(n: int) -> int:
        idx = uniform_indices(80, n)
        return len(np.unique(np.concatenate([idx, np.minimum(idx + 2, 79)])))

    # thumbnails: the decode preview's (16 candidates + partners) and the RL sampler's (its 8 + partners);
    # RGB frames: uniform's 4; the agent's looks but the last, each a candidate and its partner for
    # the classifier; then the one pick not looked at yet, for the model (not its partner)
    assert sorted(len(c) for c in thumbnail_reads) == sorted([with_partners(16), with_partners(NUM_POSITIONS)])
    assert sorted(len(c) for c in decoded_frames) == sorted([4] + [2] * (MAX_FRAMES - 1) + [1])
    rl = [f for c in decoded_frames if len(c) != 4 for f in c]
    assert len(rl) == len(set(rl))  # no frame decoded twice


def test_wall_clock_figures_time_the_packet_sampler_at_its_smallest_budget_within_a_point(tmp_path, predictor):
    from types import SimpleNamespace

    from helpers.rl.wallclock import silent_copies, wall_clock_figures

    test = SimpleNamespace(paths=[str(_clip_moving_in(tmp_path, 40, 65))], num_positions=16)
    uniform_all = {1: 0.5, 2: 0.6, 3: 0.8, 4: 0.7}  # U* = 0.8, k* = 3
    pipe = SimpleNamespace(uniform_all=uniform_all, test=test, curves={"packets": {1: 0.6, 2: 0.795, 4: 0.9}})
    figures, timed = wall_clock_figures(pipe, predictor, runs=1)
    assert (figures["wall_clock_uniform_k"], figures["packets_wall_clock_budget"], timed["sound"]["packets_k"]) == (3, 2, 2)
    assert figures["packets_wall_clock_speedup"] > 0 and figures["wall_clock_speedup"] is None  # no RL sampler given
    pipe.curves = {"packets": {1: 0.6, 2: 0.7, 4: 0.75}}  # never within a point of U*
    figures, timed = wall_clock_figures(pipe, predictor, runs=1)
    assert figures["packets_wall_clock_speedup"] is None and figures["packets_wall_clock_budget"] is None
    assert timed["sound"]["packets_k"] == 4 and figures["packets_wall_clock_speedup_at_best"] > 0
    pipe.curves = {}
    assert wall_clock_figures(pipe, predictor) == ({"wall_clock_uniform_k": 3, "wall_clock_speedup": None,
                                                    "packets_wall_clock_budget": None,
                                                    "packets_wall_clock_speedup": None}, None)
    copies = silent_copies(test.paths, tmp_path / "silent")
    assert [p.parent for p in copies] == [tmp_path / "silent"] and silent_copies(test.paths, tmp_path / "silent") == copies


def test_predict_decoded_answers_like_predict_video_on_the_same_frames(tmp_path, predictor, decoded_frames):
    from helpers.inference.predict import predict_decoded, predict_video
    from helpers.inference.rl_sampler import on_frames
    from helpers.video import open_video

    path = _clip_moving_in(tmp_path, 40, 65)
    picks = [12, 45, 60]
    with open_video(path) as reader:
        meta = reader.metadata
        frames = reader.frames(picks)  # at the file's size
    decoded_frames.clear()
    on_picks = on_frames(predictor, picks, "picks")
    reused = predict_decoded(path, frames, picks, meta, on_picks, keep_frames=False)
    assert decoded_frames == []  # nothing decoded again
    again = predict_video(path, model=on_picks, keep_frames=False)
    assert reused.frame_indices == again.frame_indices and len(reused.frame_indices) == 8  # repeated to the clip
    np.testing.assert_allclose(reused.probabilities, again.probabilities, atol=2e-2)  # resized by another path
    assert reused.sampler == again.sampler == "picks" and reused.label == again.label
    with pytest.raises(ValueError, match="2 frames for 3 frame indices"):
        predict_decoded(path, frames[:2], picks, meta, on_picks)


def test_hmdb51_copies_hold_the_same_frames_as_silent_xvid_avi_made_once(tmp_path):
    import av

    from helpers.rl.wallclock import hmdb51_copies
    from helpers.synth.encode import write_video
    from helpers.video import open_video

    rng = np.random.default_rng(1)
    frames = np.repeat(rng.integers(0, 255, (1, 48, 64, 3), dtype=np.uint8), 30, axis=0)
    frames[10:20, 8:24, 8:24] = 255  # a white square in frames 10..19
    audio = (0.3 * np.sin(np.linspace(0, 400, 48000))).astype(np.float32)
    src = write_video(tmp_path / "clip.mp4", frames, 10, audio=audio)

    (copy,) = hmdb51_copies([src], tmp_path / "hmdb51")
    assert copy == tmp_path / "hmdb51" / "0000_clip.avi"
    with av.open(str(copy)) as container:
        assert not container.streams.audio
        video = container.streams.video[0]
        assert (video.codec_context.name, video.codec_tag) == ("mpeg4", "XVID")
    with open_video(src) as a, open_video(copy) as b:
        assert b.metadata.num_frames == a.metadata.num_frames == 30 and b.metadata.fps == pytest.approx(10)
        orig, again = a.frames(range(30)).astype(float), b.frames(range(30)).astype(float)
    assert np.abs(orig - again).mean() < 8  # the same pictures, re-encoded
    assert again[15, 12:20, 12:20].mean() > 200 and again[5, 12:20, 12:20].mean() < 200  # the square where it was
    stamp = copy.stat().st_mtime_ns
    assert hmdb51_copies([src], tmp_path / "hmdb51") == [copy] and copy.stat().st_mtime_ns == stamp


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_the_untrained_preview_sampler_picks_the_moving_frames_of_a_silent_clip(tmp_path, predictor, decoded_frames,
                                                                                 thumbnail_reads, suffix):
    from helpers.inference.predict import predict_video
    from helpers.inference.rl_sampler import preview_sampler
    from helpers.rl.wallclock import measure_wall_clock

    path = _clip_moving_in(tmp_path, 40, 65, suffix=suffix)
    sampler = preview_sampler(predictor.class_names, budget=2, num_positions=16)
    result = predict_video(path, model=predictor, sampler=sampler)
    picks = sorted(set(result.frame_indices))
    assert len(picks) == 2 and all(40 <= f < 66 for f in picks)  # a pick's partner (f + 2) moves too
    assert "preview_heuristic" in result.sampler and "heuristic" in result.sampler
    # one thumbnail pass over the 16 candidates and their partners, then the two picks decoded once
    assert len(thumbnail_reads) == 1 and decoded_frames == [picks]
    out = measure_wall_clock([path], predictor, num_positions=16, uniform_k=4, sampler=sampler, warmup=0, runs=1)
    assert out["rl_frames"] == 2 and out["rl_speedup"] > 0
    with pytest.raises(ValueError, match="budget 17"):
        preview_sampler(predictor.class_names, budget=17, num_positions=16)


def test_hmdb51_codec_dataset_reencodes_every_clip_and_keeps_the_annotations(tmp_path):
    from pathlib import Path

    import av

    from helpers.rl.features import split_records
    from helpers.rl.wallclock import hmdb51_codec_dataset
    from helpers.synth import SynthConfig, generate
    from helpers.video import open_video

    src = tmp_path / "synth"
    generate("kinetics", src, SynthConfig(classes=2, clips_per_class=3, seconds=2.0, fps=8, size=(48, 32), seed=3),
             progress=False, workers=1)
    out = hmdb51_codec_dataset(src, tmp_path / "avi")
    for split in ("train", "test"):
        before, classes = split_records(src, split)
        after, classes_after = split_records(out, split)
        assert classes_after == classes and len(after) == len(before) > 0
        for a, b in zip(before, after):
            assert (b["label"], b["event"]) == (a["label"], a["event"])  # same clip, same event window
            mp4, avi = Path(a["path"]), Path(b["path"])
            assert avi.suffix == ".avi" and avi.relative_to(out).with_suffix(".mp4") == mp4.relative_to(src)
            with av.open(str(avi)) as container:
                assert not container.streams.audio and container.streams.video[0].codec_context.name == "mpeg4"
            with open_video(mp4) as was, open_video(avi) as now:
                assert now.metadata.num_frames == was.metadata.num_frames == 16 and not now.metadata.has_audio
    stamp = (out / "annotations.json").stat().st_mtime_ns
    assert hmdb51_codec_dataset(src, tmp_path / "avi") == out and (out / "annotations.json").stat().st_mtime_ns == stamp
