"""helpers.video.sampling: counts, ranges, determinism and coverage of the samplers."""
from __future__ import annotations

import numpy as np
import pytest

from helpers.video.sampling import (
    clip_window,
    dense_clip_indices,
    indices_to_times,
    multi_clip_indices,
    random_indices,
    segment_indices,
    three_crop_offsets,
    uniform_indices,
)


def test_uniform_spans_first_to_last_frame():
    idx = uniform_indices(300, 16)
    assert idx.dtype == np.int64 and idx.shape == (16,)
    assert idx[0] == 0 and idx[-1] == 299 and np.all(np.diff(idx) > 0)
    np.testing.assert_array_equal(uniform_indices(10, 4), [0, 3, 6, 9])
    np.testing.assert_array_equal(uniform_indices(1, 3), [0, 0, 0])
    short = uniform_indices(5, 8)  # shorter than asked: repeats, stays in range
    assert short.shape == (8,) and short.min() == 0 and short.max() == 4 and np.all(np.diff(short) >= 0)
    assert uniform_indices(7, 0).shape == (0,)
    with pytest.raises(ValueError):
        uniform_indices(0, 4)


def test_segment_sampling_takes_one_frame_per_segment():
    rng = np.random.default_rng(0)
    for num_frames, n in [(300, 8), (100, 3), (17, 16), (5, 8)]:
        idx = segment_indices(num_frames, n, rng)
        assert idx.shape == (n,) and idx.dtype == np.int64
        assert idx.min() >= 0 and idx.max() < num_frames and np.all(np.diff(idx) >= 0)
        edges = (np.arange(n + 1) * num_frames) // n
        inside = (idx >= edges[:-1]) & ((idx < edges[1:]) | (edges[1:] == edges[:-1]))
        assert inside.all()


def test_segment_sampling_is_deterministic_per_seed_and_covers_every_frame():
    a = segment_indices(300, 8, np.random.default_rng(5))
    b = segment_indices(300, 8, np.random.default_rng(5))
    c = segment_indices(300, 8, np.random.default_rng(6))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    rng = np.random.default_rng(1)
    seen = np.concatenate([segment_indices(40, 4, rng) for _ in range(400)])
    assert set(seen.tolist()) == set(range(40))  # random offsets reach every frame


def test_random_indices_are_distinct_sorted_and_seeded():
    idx = random_indices(50, 10, 3)
    assert len(set(idx.tolist())) == 10 and np.all(np.diff(idx) > 0) and idx.max() < 50
    np.testing.assert_array_equal(idx, random_indices(50, 10, 3))
    assert random_indices(3, 5, 0).shape == (5,)


def test_dense_clip_is_strided_and_fits():
    rng = np.random.default_rng(0)
    starts = set()
    for _ in range(300):
        idx = dense_clip_indices(100, 16, 2, rng)
        assert idx.shape == (16,) and np.all(np.diff(idx) == 2) and idx[-1] <= 99
        starts.add(int(idx[0]))
    assert min(starts) == 0 and max(starts) == 100 - 31  # every start that fits is reachable
    np.testing.assert_array_equal(dense_clip_indices(100, 16, 2, np.random.default_rng(9)),
                                  dense_clip_indices(100, 16, 2, np.random.default_rng(9)))
    short = dense_clip_indices(10, 16, 1, rng)  # shorter than a clip: from 0, last frame repeats
    np.testing.assert_array_equal(short, np.minimum(np.arange(16), 9))


def test_multi_clip_spreads_clips_from_start_to_end():
    clips = multi_clip_indices(300, 16, 5, 1)
    assert clips.shape == (5, 16) and clips.dtype == np.int64
    np.testing.assert_array_equal(clips[:, 0], [0, 71, 142, 213, 284])
    assert clips[-1, -1] == 299 and np.all(np.diff(clips, axis=1) == 1)
    strided = multi_clip_indices(300, 8, 3, 4)
    assert strided[0, 0] == 0 and strided[-1, -1] == 299 and np.all(np.diff(strided, axis=1) == 4)
    tiny = multi_clip_indices(10, 16, 5)
    assert tiny.shape == (5, 16) and (tiny == tiny[0]).all() and tiny.max() == 9
    with pytest.raises(ValueError):
        multi_clip_indices(100, 16, 0)


def test_three_crops_run_along_the_longer_side():
    np.testing.assert_array_equal(three_crop_offsets(128, 171, 112), [[8, 0], [8, 29], [8, 59]])
    np.testing.assert_array_equal(three_crop_offsets(171, 128, 112), [[0, 8], [29, 8], [59, 8]])
    with pytest.raises(ValueError):
        three_crop_offsets(100, 171, 112)


def test_times_and_audio_window_of_a_clip():
    idx = np.array([25, 30, 50])
    np.testing.assert_allclose(indices_to_times(idx, 25.0), [0.0, 0.2, 1.0])
    assert indices_to_times(idx, 25.0).dtype == np.float32
    assert clip_window(idx, 25.0) == (1.0, 51 / 25)
