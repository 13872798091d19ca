"""Feature extraction and its on-disk cache, on a tiny generated Kinetics-style dataset."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.rl.features import FeatureSet, cached_features, extract_features, is_degenerate


@pytest.fixture(scope="module")
def tiny_kinetics(tmp_path_factory):
    from helpers.synth import SynthConfig, generate

    out = tmp_path_factory.mktemp("kin")
    generate("kinetics", out, SynthConfig(classes=2, clips_per_class=3, seconds=2.0, fps=8, size=(48, 32)),
             progress=False)
    return out


def test_pixel_features_shapes_times_audio_and_cache(tiny_kinetics, tmp_path):
    fs = cached_features(None, tiny_kinetics, "train", tmp_path, encoder="pixels", num_positions=6, progress=False)
    m = fs.num_clips
    assert m == 2 and fs.features.shape == (m, 6, 2 * 16 * 16) and fs.classes == ["move_left", "move_right"]
    np.testing.assert_array_equal(fs.frame_indices[0], [0, 3, 6, 9, 12, 15])  # uniform_indices over 16 frames
    np.testing.assert_allclose(fs.times, fs.frame_indices / 8.0)
    assert fs.has_audio.all() and fs.audio_env.max(1) == pytest.approx(np.ones(m))  # loudest candidate = 1
    assert (fs.events[:, 0] >= 0).all() and (fs.events[:, 1] > fs.events[:, 0]).all()
    assert not is_degenerate(fs.features)
    assert fs.motion_env.shape == (m, 6) and fs.motion_env.max(1) == pytest.approx(np.ones(m))  # moving clips
    assert fs.motion_env.min() >= 0.0
    files = list(tmp_path.glob("rl_features_train_*.npz"))
    assert len(files) == 1
    again = cached_features(None, tiny_kinetics, "train", tmp_path, encoder="pixels", num_positions=6, progress=False)
    np.testing.assert_array_equal(again.features, fs.features)  # read back from the cache
    np.testing.assert_array_equal(again.motion_env, fs.motion_env)
    assert isinstance(again, FeatureSet) and len(list(tmp_path.glob("*.npz"))) == 1


def test_a_step_budget_reads_a_few_clips_and_caches_them_apart(tiny_kinetics, tmp_path, monkeypatch):
    import helpers.rl.features as features

    full = cached_features(None, tiny_kinetics, "train", tmp_path, encoder="pixels", num_positions=4, progress=False)
    monkeypatch.setenv("HELPERS_MAX_STEPS", "1")
    monkeypatch.setattr(features, "BUDGET_CLIPS_PER_STEP", 1)
    few = cached_features(None, tiny_kinetics, "train", tmp_path, encoder="pixels", num_positions=4, progress=False)
    assert (full.num_clips, few.num_clips) == (2, 1)
    np.testing.assert_array_equal(few.features[0], full.features[0])  # the split's first clip
    assert len(list(tmp_path.glob("*.npz"))) == 2  # never read back as the whole split
    monkeypatch.delenv("HELPERS_MAX_STEPS")
    assert cached_features(None, tiny_kinetics, "train", tmp_path, encoder="pixels", num_positions=4,
                           progress=False).num_clips == 2


def test_bad_arguments_raise(tiny_kinetics):
    with pytest.raises(ValueError, match="encoder must be"):
        extract_features(None, tiny_kinetics, "train", encoder="nope", progress=False)
    with pytest.raises(ValueError, match="needs the trained model"):
        extract_features(None, tiny_kinetics, "train", encoder="model", progress=False)
    with pytest.raises(ValueError, match="no clips"):
        extract_features(None, tiny_kinetics, "nosuchsplit", encoder="pixels", progress=False)
    assert is_degenerate(np.ones((3, 4, 5), np.float32))


def _square(x: float, y: float, half: float = 8.0, size=(48, 64)) -> np.ndarray:
    """A textured bright square centred at (x, y) on a dark background, RGB uint8."""
    h, w = size
    ys, xs = np.mgrid[0:h, 0:w]
    inside = (np.abs(xs - x) <= half) & (np.abs(ys - y) <= half)
    texture = 150 + 60 * np.sin(xs * 0.9) * np.cos(ys * 0.7)
    img = np.where(inside, texture, 20).astype(np.uint8)
    return np.repeat(img[..., None], 3, axis=-1)


def test_flow_features_say_which_way_things_move():
    from helpers.rl.features import flow_features

    start = np.stack([_square(30, 24)] * 3)
    moved = np.stack([_square(33, 24), _square(27, 24), _square(30, 24)])  # right, left, still
    f = flow_features(start, moved)
    assert f.shape == (3, 2 * 16 + 5) and f.dtype == np.float32
    magnitude, u, v = f[:, 32], f[:, 33], f[:, 34]
    assert u[0] > 1.0 and u[1] < -1.0 and abs(v[0]) < 0.5 * u[0]  # 3 px right / left
    assert magnitude[2] < 0.05 < magnitude[0]  # nothing moves: no flow
    grow = flow_features(_square(30, 24, 8)[None], _square(30, 24, 10)[None])
    shrink = flow_features(_square(30, 24, 10)[None], _square(30, 24, 8)[None])
    assert grow[0, 35] > 0 > shrink[0, 35]  # radial part: outwards when it grows


def test_flow_encoder_caches_one_vector_per_candidate(tiny_kinetics, tmp_path):
    fs = cached_features(None, tiny_kinetics, "train", tmp_path, encoder="flow", num_positions=6, progress=False)
    assert fs.features.shape == (fs.num_clips, 6, 37) and fs.meta["encoder"] == "flow"
    assert np.isfinite(fs.features).all() and not is_degenerate(fs.features)


def test_frame_difference_is_the_mean_grey_change_and_zero_for_a_still_clip():
    from helpers.rl.features import frame_difference, motion_energy

    still = np.full((3, 4, 4, 3), 100, np.uint8)
    assert frame_difference(still, still).tolist() == [0.0, 0.0, 0.0]
    assert motion_energy(still, still).tolist() == [0.0, 0.0, 0.0]
    moved = still.copy()
    moved[1, :2] = 200  # half of frame 1 changes by 100 grey levels
    moved[2, 0, 0] = 200  # one pixel of frame 2
    np.testing.assert_allclose(frame_difference(still, moved), [0.0, 50.0, 100 / 16], rtol=1e-5)


def test_sustained_motion_drops_a_one_candidate_spike_and_keeps_a_lasting_change():
    from helpers.rl.features import motion_energy, sustained

    # a lasting action over candidates 2-5, then a cross-fade spike at 6 (twice as strong)
    energy = np.array([0.1, 0.1, 1.0, 1.0, 1.0, 1.0, 2.0, 0.1, 0.1], np.float32)
    kept = sustained(energy)
    assert int(np.argmax(energy)) == 6 and int(np.argmax(kept)) in (3, 4)
    np.testing.assert_allclose(kept, [0.1, 0.1, 0.1, 1.0, 1.0, 1.0, 0.1, 0.1, 0.1], atol=2e-3)
    assert kept[6] < kept[3] / 5  # the spike ranks with the still candidates, far below the action
    assert sustained(np.array([0.0, 3.0, 0.0])).max() == pytest.approx(1.0)  # a lone change: kept by its size
    # nothing lasts three candidates: equal minima are ordered by the change itself
    assert np.argsort(-sustained(np.array([0.0, 2.0, 4.0, 0.0, 0.0])))[:2].tolist() == [2, 1]
    assert sustained(np.zeros(0)).shape == (0,)
    still = np.zeros((9, 4, 4, 3), np.uint8)
    moved = still.copy()
    moved[2:6] = 100
    moved[6] = 200
    np.testing.assert_allclose(motion_energy(still, moved), [0, 0, 0, 1, 1, 1, 0, 0, 0], atol=3e-3)


def test_a_cache_written_before_the_motion_preview_still_loads(tmp_path):
    from rl_toy import make_toy_features

    fs = make_toy_features(num_clips=3, num_positions=4, informative=2)
    fs.motion_env = None
    loaded = FeatureSet.load(fs.save(tmp_path / "old.npz"))
    assert loaded.motion_env is None and loaded.num_clips == 3


def _clip_moving_in(tmp_path, start: int, end: int, num_frames: int = 80, suffix: str = ".mp4"):
    """A textured still scene (a key frame every 20 frames) where a block moves only
    in frames ``start``…``end - 1``."""
    from helpers.synth.encode import encode_video

    rng = np.random.default_rng(0)
    background = rng.integers(0, 255, (48, 64, 3), dtype=np.uint8)
    frames = np.repeat(background[None], num_frames, axis=0)
    for t in range(start, end):  # a block that changes as it moves (a rigid one is predicted almost free)
        x = 2 + 2 * (t - start)
        frames[t, 16:32, x:x + 12] = rng.integers(0, 255, (16, 12, 3), dtype=np.uint8)
    path = tmp_path / f"moving{suffix}"
    # a bit rate that does not bind: under a tight one rate control evens the packet sizes out
    path.write_bytes(encode_video(frames, 10, container=suffix, gop=20, bit_rate=2_000_000))
    return path


@pytest.mark.parametrize("suffix", [".mp4", ".avi"])
def test_packet_energy_peaks_where_the_clip_moves_and_decodes_no_frame(tmp_path, monkeypatch, suffix):
    from helpers.rl.features import clip_packet_energy
    from helpers.video import PyAVReader, open_video
    from helpers.video.sampling import uniform_indices

    path = _clip_moving_in(tmp_path, 40, 65, suffix=suffix)
    decoded = []
    real = PyAVReader._decode_packet
    monkeypatch.setattr(PyAVReader, "_decode_packet", lambda self, packet: decoded.append(1) or real(self, packet))
    with open_video(path) as reader:
        idx = uniform_indices(reader.metadata.num_frames, 16)
        energy = clip_packet_energy(reader, idx)
        assert decoded == []  # the preview demuxes only
        reader.frames(idx)  # what decoding the same candidates costs, counted the same way
    assert len(decoded) >= len(idx)
    inside = (idx >= 40) & (idx < 65)
    assert energy.max() == pytest.approx(1.0) and energy.min() >= 0.0
    assert inside[np.argsort(-energy, kind="stable")[:3]].all()  # the three highest lie in the moving window
    assert energy[inside].mean() > 2 * energy[~inside].mean()


def test_packet_energy_leaves_key_frames_out_and_scales_per_clip():
    from helpers.rl.features import packet_energy

    sizes = np.array([900, 10, 10, 10, 900, 10, 50, 50, 10, 10])
    keys = np.zeros(10, bool)
    keys[[0, 4]] = True  # large key frames: not motion
    energy = packet_energy(sizes, keys, np.array([0, 4, 7]), window=3)
    np.testing.assert_allclose(energy, [10 / (110 / 3), 10 / (110 / 3), 1.0], rtol=1e-6)  # means of 10, 10, 36.7
    assert packet_energy(sizes, np.ones(10, bool), np.array([1, 5]), window=3).tolist() == [0.0, 0.0]
    assert packet_energy(np.array([]), np.array([], bool), np.array([0, 1])).tolist() == [0.0, 0.0]


def test_a_cache_written_before_the_packet_preview_still_loads(tmp_path):
    from rl_toy import make_toy_features

    fs = make_toy_features(num_clips=3, num_positions=4, informative=2)
    assert fs.packet_env is None
    loaded = FeatureSet.load(fs.save(tmp_path / "old.npz"))
    assert loaded.packet_env is None and loaded.motion_env is not None
    fs.packet_env = np.linspace(0, 1, 12, dtype=np.float32).reshape(3, 4)
    again = FeatureSet.load(fs.save(tmp_path / "new.npz"))
    np.testing.assert_array_equal(again.packet_env, fs.packet_env)
    np.testing.assert_array_equal(again.subset([2]).packet_env, fs.packet_env[[2]])
