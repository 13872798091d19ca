"""Which frames to look at: small pure functions from a frame count to frame indices.

All return int64 arrays of valid indices in ``[0, num_frames - 1]``; when a video is
shorter than what is asked for, indices repeat (never point past the end), so the
result always has the requested shape. Random samplers take a
``numpy.random.Generator`` (or a seed) so a dataset, a test or an RL sampler gets the
same indices for the same generator state.

* ``uniform_indices``    — n frames evenly spread (the seeds' sampler; also the
  equal-budget baseline for the RL sampler).
* ``segment_indices``    — TSN (Wang et al. 2016): n equal segments, one random frame
  in each; the usual training sampler for sparse frame models.
* ``random_indices``     — n sorted random frames (the "random" baseline).
* ``dense_clip_indices`` — one clip of consecutive frames (every ``stride``-th) at a
  random start: the training sampler of 3D CNNs (torchvision's reference uses
  16-frame clips).
* ``multi_clip_indices`` — ``num_clips`` such clips evenly spread for testing
  (torchvision's reference: 5 clips per video, scores averaged).
* ``three_crop_offsets`` — the (top, left) corners of 3 crops along the longer side
  (left/centre/right), the spatial half of multi-view testing (clips × 3 crops); it
  only computes positions, cropping is the transforms' job.
"""
from __future__ import annotations

import numpy as np

RngLike = np.random.Generator | int | None


def _rng(rng: RngLike) -> np.random.Generator:
    return rng if isinstance(rng, np.random.Generator) else np.random.default_rng(rng)


def _check(num_frames: int, n: int, what: str = "n") -> None:
    if num_frames <= 0:
        raise ValueError(f"num_frames must be positive, got {num_frames}")
    if n < 0:
        raise ValueError(f"{what} must be >= 0, got {n}")


def uniform_indices(num_frames: int, n: int) -> np.ndarray:
    """``n`` indices evenly spaced from the first to the last frame (``np.linspace``
    truncated to int); repeats when ``num_frames < n``."""
    _check(num_frames, n)
    return np.linspace(0, num_frames - 1, n).astype(np.int64)


def segment_indices(num_frames: int, n: int, rng: RngLike = None) -> np.ndarray:
    """TSN sampling: split ``[0, num_frames)`` into ``n`` equal segments and take one
    uniformly random frame from each (sorted by construction). Segments shorter than
    one frame (``num_frames < n``) give their start frame, so indices repeat."""
    _check(num_frames, n)
    edges = (np.arange(n + 1) * num_frames) // max(n, 1)
    starts, lengths = edges[:-1], np.maximum(edges[1:] - edges[:-1], 1)
    offsets = _rng(rng).integers(0, lengths) if n else np.zeros(0, np.int64)
    return np.minimum(starts + offsets, num_frames - 1).astype(np.int64)


def random_indices(num_frames: int, n: int, rng: RngLike = None) -> np.ndarray:
    """``n`` distinct random frames, sorted (with replacement only when
    ``num_frames < n``)."""
    _check(num_frames, n)
    picked = _rng(rng).choice(num_frames, size=n, replace=num_frames < n)
    return np.sort(picked).astype(np.int64)


def clip_span(clip_len: int, stride: int) -> int:
    """Frames covered by a clip of ``clip_len`` frames taken every ``stride``."""
    if clip_len <= 0 or stride <= 0:
        raise ValueError(f"clip_len and stride must be positive, got {clip_len}, {stride}")
    return (clip_len - 1) * stride + 1


def _clip(start: int | np.ndarray, clip_len: int, stride: int, num_frames: int) -> np.ndarray:
    idx = np.asarray(start)[..., None] + np.arange(clip_len) * stride
    return np.minimum(idx, num_frames - 1).astype(np.int64)


def dense_clip_indices(num_frames: int, clip_len: int, stride: int = 1, rng: RngLike = None) -> np.ndarray:
    """One clip of ``clip_len`` frames, every ``stride``-th, starting at a random
    frame chosen so the clip fits; a video shorter than the clip starts at 0 and
    repeats its last frame."""
    _check(num_frames, clip_len, "clip_len")
    room = max(num_frames - clip_span(clip_len, stride), 0)
    start = int(_rng(rng).integers(0, room + 1))
    return _clip(start, clip_len, stride, num_frames)


def multi_clip_indices(num_frames: int, clip_len: int, num_clips: int = 5, stride: int = 1) -> np.ndarray:
    """(num_clips, clip_len) indices: clips with evenly spaced starts from the first
    to the last possible start (deterministic, for testing). Clips overlap when the
    video is short, and all coincide when it is shorter than one clip."""
    _check(num_frames, clip_len, "clip_len")
    if num_clips <= 0:
        raise ValueError(f"num_clips must be positive, got {num_clips}")
    room = max(num_frames - clip_span(clip_len, stride), 0)
    starts = np.linspace(0, room, num_clips).round().astype(np.int64)
    return _clip(starts, clip_len, stride, num_frames)


def three_crop_offsets(height: int, width: int, crop: int) -> np.ndarray:
    """(3, 2) int64 (top, left) of three ``crop``×``crop`` squares along the longer
    side of a ``height``×``width`` frame: start, centre, end (SlowFast/torchvision-
    style 3-crop testing). Combine with ``multi_clip_indices`` for clips × crops."""
    if crop <= 0 or crop > min(height, width):
        raise ValueError(f"crop {crop} does not fit a {height}x{width} frame")
    if width >= height:
        top = (height - crop) // 2
        lefts = [0, (width - crop) // 2, width - crop]
        return np.array([[top, left] for left in lefts], np.int64)
    left = (width - crop) // 2
    tops = [0, (height - crop) // 2, height - crop]
    return np.array([[top, left] for top in tops], np.int64)


def indices_to_times(indices: np.ndarray, fps: float, start_index: int | None = None) -> np.ndarray:
    """float32 seconds of each frame index from ``start_index`` (default: the first
    index), for a batch's ``frame_times``."""
    idx = np.asarray(indices, np.int64)
    origin = int(idx.reshape(-1)[0]) if start_index is None and idx.size else int(start_index or 0)
    return ((idx - origin) / float(fps)).astype(np.float32)


def clip_window(indices: np.ndarray, fps: float) -> tuple[float, float]:
    """[start_s, end_s) the frames ``indices`` cover: from the first frame's time to
    the end of the last frame; the audio window that goes with a clip."""
    idx = np.asarray(indices, np.int64).reshape(-1)
    if idx.size == 0:
        raise ValueError("no indices")
    return float(idx.min()) / fps, float(idx.max() + 1) / fps
