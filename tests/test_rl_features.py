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
    files = list(tmp_path.glob("rl_features_train_*.npz"))
    assert len(files) == 1
    again = cached_features(None, tiny_kinetics, "train", tmp_path, encoder="pixels", num_positions=6, progress=False)
    np.testing.assert_array_equal(again.features, fs.features)  # read back from the cache
    assert isinstance(again, FeatureSet) and len(list(tmp_path.glob("*.npz"))) == 1


def test_bad_arguments_raise(tiny_kinetics):
    with pytest.raises(ValueError, match="encoder"):
        extract_features(None, tiny_kinetics, "train", encoder="nope", progress=False)
    with pytest.raises(ValueError, match="needs the trained model"):
        extract_features(None, tiny_kinetics, "train", encoder="model", progress=False)
    with pytest.raises(ValueError, match="no clips"):
        extract_features(None, tiny_kinetics, "nosuchsplit", encoder="pixels", progress=False)
    assert is_degenerate(np.ones((3, 4, 5), np.float32))
