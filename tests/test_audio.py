"""helpers.video.audio: 16 kHz mono windows aligned to the video timeline, log-mel."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.video import VideoDecodeError
from helpers.video.audio import log_mel, read_audio
from video_factory import KINDS, make_video

SR = 16000
pytestmark = pytest.mark.timeout(300)  # hang guard, not a speed check


@pytest.fixture(scope="module")
def toned(tmp_path_factory):
    """2-s videos whose audio is silent until 1.0 s, then a 440 Hz tone."""
    folder = tmp_path_factory.mktemp("audio")
    kinds = ["avi-mpeg4", "mp4-h264", "mkv-h264", "mpg-mpeg2"]  # pcm, aac, opus, mp2 (first pts 0.54 s)
    return {k: make_video(folder / f"{k}{KINDS[k].suffix}", k, num_frames=50, audio_tone=(1.0, 440.0)) for k in kinds}


def _onset(wave: np.ndarray, start_s: float) -> float:
    loud = np.flatnonzero(np.abs(wave) > 0.1)
    return start_s + loud[0] / SR


@pytest.mark.parametrize("kind", ["avi-mpeg4", "mp4-h264", "mkv-h264", "mpg-mpeg2"])
def test_tone_starts_where_it_was_written(toned, kind):
    for start_s, end_s in [(0.0, 2.0), (0.5, 1.5), (0.9, 1.1)]:
        wave, has_audio = read_audio(toned[kind], start_s, end_s)
        assert has_audio is True and wave.dtype == np.float32
        assert wave.shape == (round((end_s - start_s) * SR),)
        assert _onset(wave, start_s) == pytest.approx(1.0, abs=0.003)
        before = wave[: int((1.0 - start_s) * SR) - 80]
        assert np.abs(before).max() < 0.02  # silence stays silence
    late, _ = read_audio(toned[kind], 1.25, 1.75)  # a window after a seek: all tone
    assert np.sqrt(np.mean(late**2)) > 0.2


def test_window_past_the_track_is_zero_padded(toned):
    wave, has_audio = read_audio(toned["avi-mpeg4"], 1.5, 3.0)
    assert has_audio and wave.shape == (24000,)
    assert np.abs(wave[: int(0.45 * SR)]).max() > 0.3  # tone until 2.0 s
    assert np.abs(wave[int(0.55 * SR):]).max() == 0.0  # nothing after the track ends


def test_no_audio_track_gives_zeros_and_flag(tmp_path):
    path = make_video(tmp_path / "silent.avi", "avi-mpeg4", num_frames=10)
    wave, has_audio = read_audio(path, 0.0, 0.4)
    assert has_audio is False and wave.shape == (6400,) and not wave.any()
    assert read_audio(path, 0.2, 0.2)[0].shape == (0,)


def test_bad_file_raises_typed_error(tmp_path):
    bad = tmp_path / "x.mp4"
    bad.write_text("not a video")
    with pytest.raises(VideoDecodeError):
        read_audio(bad, 0.0, 1.0)
    with pytest.raises(ValueError):
        read_audio(bad, 1.0, 0.5)


def test_log_mel_shape_and_content(toned):
    wave, _ = read_audio(toned["avi-mpeg4"], 0.5, 1.5)  # silence then tone
    mel = log_mel(wave)
    assert mel.dtype == np.float32 and mel.shape == (64, 1 + len(wave) // 160)
    silent, tone = mel[:, 5:40], mel[:, 60:95]
    assert silent.max() < -90 and tone.max() > -20
    peak_band = int(tone.mean(axis=1).argmax())
    import librosa

    centres = librosa.mel_frequencies(n_mels=66, fmin=0.0, fmax=SR / 2)[1:-1]
    assert abs(centres[peak_band] - 440) < 80  # energy sits in the 440 Hz band
    assert log_mel(np.zeros(0, np.float32)).shape == (64, 1)
    assert log_mel(np.zeros(16000, np.float32), n_mels=40).shape == (40, 101)


def test_log_mel_runs_its_matrix_product_on_one_blas_thread_and_restores_the_pools(monkeypatch):
    import librosa
    from threadpoolctl import threadpool_info

    def blas_threads() -> list[int]:
        return [pool["num_threads"] for pool in threadpool_info() if pool["user_api"] == "blas"]

    before, during = blas_threads(), []
    real = librosa.feature.melspectrogram

    def spy(**kwargs):
        during.extend(blas_threads())
        return real(**kwargs)

    monkeypatch.setattr(librosa.feature, "melspectrogram", spy)
    mel = log_mel(np.random.default_rng(0).normal(0, 0.1, 16000).astype(np.float32))
    assert mel.shape == (64, 101)
    assert during and set(during) == {1}
    assert blas_threads() == before


@pytest.mark.parametrize("kind", ["avi-mpeg4", "mp4-h264", "mkv-h264"])
def test_drop_audio_keeps_the_same_frames_without_the_sound(toned, kind, tmp_path):
    from helpers.video import open_video
    from helpers.video.audio import drop_audio

    src = toned[kind]
    dst = drop_audio(src, tmp_path / f"silent{src.suffix}")
    assert read_audio(src, 1.2, 1.4)[1] and not read_audio(dst, 1.2, 1.4)[1]
    with open_video(src) as a, open_video(dst) as b:
        assert not b.metadata.has_audio and b.metadata.num_frames == a.metadata.num_frames == 50
        assert b.metadata.fps == pytest.approx(a.metadata.fps)
        np.testing.assert_array_equal(a.frames([0, 17, 49]), b.frames([0, 17, 49]))
    assert [p.name for p in tmp_path.iterdir()] == [dst.name]  # no temporary left beside it


@pytest.mark.parametrize("kind", ["avi-mpeg4", "mp4-h264", "mkv-h264", "mpg-mpeg2"])
def test_window_rms_is_the_waveforms_loudness_per_window(toned, kind):
    from helpers.video.audio import window_rms

    edges = np.array([0.0, 0.5, 0.95, 1.05, 1.5, 2.0, 2.5])
    rms, has_audio = window_rms(toned[kind], edges)
    assert has_audio and rms.shape == (6,) and rms.dtype == np.float32
    assert rms[0] < 0.01 and rms[1] < 0.01 and rms[5] < 0.02  # silence; after the track (codec padding)
    assert rms[3] == pytest.approx(0.5 / np.sqrt(2), rel=0.05)  # the written sine, amplitude 0.5, all tone
    assert rms[4] == pytest.approx(0.5 / np.sqrt(2), rel=0.05)
    assert rms[2] == pytest.approx(rms[3] / np.sqrt(2), rel=0.1)  # half silence, half tone


def test_window_rms_averages_the_channels_and_flags_a_file_without_sound(tmp_path):
    import wave

    from helpers.video.audio import window_rms

    t = np.arange(SR) / SR
    left = (0.5 * np.sin(2 * np.pi * 440 * t) * 32767).astype(np.int16)  # interleaved s16: tone left, silence right
    with wave.open(str(tmp_path / "stereo.wav"), "wb") as w:
        w.setnchannels(2), w.setsampwidth(2), w.setframerate(SR)
        w.writeframes(np.stack([left, np.zeros_like(left)], 1).tobytes())
    rms, has_audio = window_rms(tmp_path / "stereo.wav", np.array([0.0, 0.5, 1.0]))
    assert has_audio and rms == pytest.approx([0.5 / np.sqrt(2) / 2] * 2, rel=0.01)
    silent = make_video(tmp_path / "silent.avi", "avi-mpeg4", num_frames=10)
    rms, has_audio = window_rms(silent, np.array([0.0, 0.2, 0.4]))
    assert has_audio is False and rms.tolist() == [0.0, 0.0]
