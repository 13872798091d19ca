"""helpers.inference: predict_video on generated clips in several containers with a
trained smoke model, bad files, video-level testing and the ``predict`` CLI."""
from __future__ import annotations

import json

import numpy as np
import pytest


CONTAINERS = (".avi", ".mp4", ".mkv", ".webm", ".mov")


@pytest.fixture(scope="session")
def clips(smoke_model, tmp_path_factory):
    """The correctly classified clip re-encoded into five containers (codecs differ)."""
    from helpers.synth.encode import write_video

    out = tmp_path_factory.mktemp("containers")
    return {s: write_video(out / f"clip{s}", smoke_model.best_frames, smoke_model.fps) for s in CONTAINERS}


def test_predict_video_in_five_containers(smoke_model, predictor, clips):
    from helpers.inference import predict_video

    probs = []
    for suffix, path in clips.items():
        r = predict_video(path, model=predictor, top_k=5)
        assert r.label == smoke_model.best_class, suffix
        assert [n for n, _ in r.top] == sorted(predictor.class_names, key=lambda n: -dict(r.top)[n])
        assert len(r.top) == len(predictor.class_names) == 2  # top_k capped at the class count
        assert sum(p for _, p in r.top) == pytest.approx(1.0, abs=1e-6)
        assert len(r.frame_indices) == predictor.num_frames == 8
        assert r.frame_indices == sorted(r.frame_indices) and r.frame_indices[-1] <= r.num_video_frames - 1
        assert r.frames.shape == (8, *predictor.resize, 3)
        assert r.decode_ms > 0 and r.model_ms > 0 and r.total_ms >= r.decode_ms + r.model_ms
        assert r.metadata["container"] and r.metadata["num_frames"] == len(smoke_model.best_frames)
        probs.append(r.probabilities)
    # lossy codecs move the scores a little, never the answer
    assert np.ptp(np.stack(probs), axis=0).max() < 0.2


def test_multi_clip_three_crop_views(predictor, clips):
    from helpers.evaluation.video_level import video_level_accuracy
    from helpers.inference import predict_video

    r = predict_video(clips[".mp4"], model=predictor, clips=3, crops=3)
    assert r.view_probabilities.shape == (9, 2) and r.clips == 3 and r.crops == 3
    np.testing.assert_allclose(r.probabilities, r.view_probabilities.mean(0))
    label = predictor.class_names.index(r.label)
    v = video_level_accuracy(predictor, [(clips[".avi"], label), (clips[".mkv"], label), ("/nonexistent.avi", 0)],
                             clips=2, crops=1)
    assert v.num_videos == 2 and len(v.failures) == 1 and "no such file" in v.failures[0][1]
    assert v.video_top1 == 1.0 and v.video_scores.shape == (2, 2) and 0 <= v.clip_top1 <= 1


def test_bad_files_give_clear_errors(predictor, tmp_path):
    from helpers.inference import InferenceError, predict_video

    text = tmp_path / "notes.mp4"
    text.write_text("this is not a video\n" * 50)
    with pytest.raises(InferenceError, match="cannot read this video") as err:
        predict_video(text, model=predictor)
    assert err.value.path == str(text)
    with pytest.raises(InferenceError, match="no such file"):
        predict_video(tmp_path / "missing.avi", model=predictor)


def test_cli_json_and_missing_checkpoint(smoke_model, clips, tmp_path, capsys, monkeypatch):
    from helpers.inference import main

    assert main([str(clips[".webm"]), "--checkpoint", str(smoke_model.checkpoint), "--json", "--top-k", "1"]) == 0
    out = json.loads(capsys.readouterr().out.strip().splitlines()[-1])
    assert out["label"] == smoke_model.best_class and len(out["top"]) == 1 and len(out["frame_indices"]) == 8
    assert main([str(clips[".avi"]), "--checkpoint", str(smoke_model.checkpoint)]) == 0
    assert f"1. {smoke_model.best_class}" in capsys.readouterr().out
    monkeypatch.setenv("HELPERS_MODELS_DIR", str(tmp_path / "empty_models"))
    assert main([str(clips[".avi"])]) == 3
    err = capsys.readouterr().err
    assert "notebooks/04_training.ipynb" in err and "Traceback" not in err
    bad = tmp_path / "bad.avi"
    bad.write_bytes(b"RIFF" + bytes(100))
    assert main([str(bad), "--checkpoint", str(smoke_model.checkpoint)]) == 1
    assert capsys.readouterr().err.startswith("predict: ")


def test_compare_models_table(smoke_model, clips, tmp_path):
    import shutil

    from helpers.evaluation import compare_models, discover_models

    shutil.copy(smoke_model.checkpoint, tmp_path / "moe_split1_best.pth")
    (tmp_path / "moe_int8.pt").write_bytes(b"not a TorchScript archive")
    entries = discover_models(tmp_path)
    assert [(e.name, e.kind) for e in entries] == [("moe_split1_best", "moe"), ("moe_int8", "quantized")]
    label = entries[0].predictor.class_names.index(smoke_model.best_class)
    df = compare_models(entries, [(clips[".avi"], label), (clips[".mp4"], label)])
    row = df.loc["moe_split1_best"]
    assert (row["top1"], row["frames_used"], row["videos"]) == (1.0, 8, 2)
    assert row["latency_ms"] >= row["model_ms"] > 0 and 0 < row["size_mb"] < 100
    assert df.loc["moe_int8", "note"].startswith("cannot load")


def test_cli_prints_the_caption_and_sync_score_of_a_multimodal_model(tmp_path, capsys, monkeypatch):
    import helpers.inference.predictor as predictor_module
    from helpers.inference import main, predictor_from_model
    from helpers.models import MultiModalConfig, MultiModalVideoModel
    from video_factory import make_video

    cfg = MultiModalConfig.smoke(3).with_captions(["a box grows", "a person moves left"])
    multimodal = predictor_from_model(MultiModalVideoModel(cfg).eval(), ["a", "b", "c"], num_frames=4,
                                      resize=(32, 40), crop=32)
    monkeypatch.setattr(predictor_module, "load_predictor", lambda *a, **k: multimodal)
    clip = make_video(tmp_path / "tone.mp4", "mp4-h264", num_frames=30, audio_tone=(0.4, 440.0))
    assert main([str(clip), "--top-k", "2"]) == 0
    out = capsys.readouterr().out
    caption = next(line for line in out.splitlines() if line.startswith("caption: "))
    assert set(caption.removeprefix("caption: ").split()) <= {"a", "box", "grows", "person", "moves", "left"}
    assert "sound and picture in step: " in out


def test_a_multimodal_model_without_an_audio_encoder_reads_no_sound(tmp_path, monkeypatch):
    """The sound of a clip is read only for a model that hears it: the same clip with a
    tone reads its audio once for a log-mel model and never for one built with audio
    "none", in ``predict_video`` and from frames already decoded (``predict_decoded``)."""
    import helpers.video.audio as audio_module
    from helpers.inference import predict_video, predictor_from_model
    from helpers.inference.predict import predict_decoded
    from helpers.models import MultiModalConfig, MultiModalVideoModel
    from helpers.video import open_video
    from video_factory import make_video

    clip = make_video(tmp_path / "tone.mp4", "mp4-h264", num_frames=30, audio_tone=(0.4, 440.0))
    reads = []
    real = audio_module.read_audio
    monkeypatch.setattr(audio_module, "read_audio", lambda *a, **k: reads.append(1) or real(*a, **k))
    with open_video(clip) as reader:
        meta, frames = reader.metadata, reader.frames([3, 10])
    for audio, expected in (("logmel", 1), ("none", 0)):
        cfg = MultiModalConfig.smoke(3, audio=audio, caption_decoder="none")
        p = predictor_from_model(MultiModalVideoModel(cfg).eval(), ["a", "b", "c"], num_frames=4,
                                 resize=(32, 40), crop=32)
        for run in (lambda: predict_video(clip, p, keep_frames=False),
                    lambda: predict_decoded(clip, frames, [3, 10], meta, p, keep_frames=False)):
            reads.clear()
            assert len(run().probabilities) == 3
            assert len(reads) == expected, audio
