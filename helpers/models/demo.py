"""A synthetic batch that follows the Batches contract exactly (:mod:`helpers.datasets.base`), for
tests, summaries and a notebook that has no dataset on disk yet.

Not a dataset: a bright square moving left-to-right (or right-to-left) across a
noisy background, with a Hann-windowed tone whose pitch depends on the class, so that motion and audio are
present and a reversed clip differs from the original.
"""
from __future__ import annotations

import numpy as np
import torch

from .backbones import KINETICS_MEAN, KINETICS_STD

SAMPLE_RATE = 16000


def make_demo_batch(batch_size: int = 2, num_frames: int = 4, size: int = 32, fps: float = 8.0,
                    audio_mask: list[bool] | None = None, num_classes: int = 2, seed: int = 0) -> dict:
    """A Batches-contract dict: ``video`` (B,3,T,size,size) Kinetics-normalised,
    ``frame_indices``/``frame_times`` (B,T), ``audio`` (B,N) 16 kHz covering the clip's
    window T/fps seconds, ``audio_mel`` (B,64,F), ``audio_mask`` (B,), ``label`` (B,)
    (0 = moves right, 1 = moves left, others likewise alternate), ``caption``, ``path``.
    Clips whose ``audio_mask`` is False get an all-zero waveform, as the contract says."""
    from helpers.video.audio import log_mel  # the same log-mel the datasets compute

    rng = np.random.default_rng(seed)
    mask = [True] * batch_size if audio_mask is None else list(audio_mask)
    if len(mask) != batch_size:
        raise ValueError(f"audio_mask has {len(mask)} entries for batch_size {batch_size}")
    n_samples = int(round(num_frames / fps * SAMPLE_RATE))
    mean = np.array(KINETICS_MEAN, np.float32)[:, None, None, None]
    std = np.array(KINETICS_STD, np.float32)[:, None, None, None]
    videos, audios, mels, labels, captions = [], [], [], [], []
    side = max(size // 4, 2)
    for b in range(batch_size):
        label = b % num_classes
        clip = rng.uniform(0.0, 0.3, size=(3, num_frames, size, size)).astype(np.float32)
        y = int(rng.integers(0, size - side))
        for t in range(num_frames):
            frac = t / max(num_frames - 1, 1)
            x = int(round((frac if label % 2 == 0 else 1 - frac) * (size - side)))
            clip[:, t, y : y + side, x : x + side] = 1.0
        videos.append((clip - mean) / std)
        wave = np.zeros(n_samples, np.float32)
        if mask[b]:
            tt = np.arange(n_samples) / SAMPLE_RATE
            freq = 440.0 * (1 + label)
            wave = (0.5 * np.sin(2 * np.pi * freq * tt) * np.hanning(n_samples)).astype(np.float32)
        audios.append(wave)
        mels.append(log_mel(wave))
        direction = "right" if label % 2 == 0 else "left"
        labels.append(label)
        captions.append(f"a white square moves to the {direction}.")
    frame_indices = np.tile(np.arange(num_frames, dtype=np.int64), (batch_size, 1))
    return {
        "video": torch.from_numpy(np.stack(videos)),
        "frame_indices": torch.from_numpy(frame_indices),
        "frame_times": torch.from_numpy((frame_indices / fps).astype(np.float32)),
        "audio": torch.from_numpy(np.stack(audios)),
        "audio_mel": torch.from_numpy(np.stack(mels)),
        "audio_mask": torch.tensor(mask, dtype=torch.bool),
        "label": torch.tensor(labels, dtype=torch.int64),
        "caption": captions,
        "path": [f"demo/clip_{b:03d}.mp4" for b in range(batch_size)],
    }
