"""Figures for notebook 02: sampled frames, audio, load times. Each returns a Figure."""
from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import numpy as np

from helpers.datasets.transforms import denormalize


def plot_frame_strips(
    items: Sequence[Mapping[str, Any]],
    classes: Sequence[str] | None = None,
    max_frames: int = 8,
):
    """One row per item: up to ``max_frames`` of its sampled frames (un-normalized),
    each titled with its frame index and time; the row names the class and file."""
    import matplotlib.pyplot as plt

    rows = len(items)
    if rows == 0:
        raise ValueError("no items to show")
    t = int(items[0]["video"].shape[1])
    show = np.unique(np.linspace(0, t - 1, min(max_frames, t)).round().astype(int))
    fig, axes = plt.subplots(rows, len(show), figsize=(1.6 * len(show), 1.9 * rows), squeeze=False)
    for r, item in enumerate(items):
        frames = denormalize(item["video"])
        idx = np.asarray(item["frame_indices"])
        times = np.asarray(item["frame_times"])
        label = int(item["label"])
        name = classes[label] if classes is not None else str(label)
        for c, k in enumerate(show):
            ax = axes[r][c]
            ax.imshow(frames[k])
            ax.set_xticks([])
            ax.set_yticks([])
            ax.set_title(f"#{idx[k]} · {times[k]:.2f}s", fontsize=7)
            if c == 0:
                ax.set_ylabel(f"{name}\n{Path(item['path']).name[:22]}", fontsize=7)
    fig.suptitle("sampled frames (frame index · time)", fontsize=9)
    fig.tight_layout()
    return fig


def plot_audio(
    waveform: np.ndarray,
    mel: np.ndarray,
    sample_rate: int = 16000,
    hop_length: int = 160,
    title: str = "",
):
    """Waveform above its log-mel spectrogram, on one time axis (seconds)."""
    import matplotlib.pyplot as plt

    wave = np.asarray(waveform, dtype=np.float32).reshape(-1)
    mel = np.asarray(mel)
    fig, (top, bottom) = plt.subplots(2, 1, figsize=(8, 4.2), sharex=True)
    t = np.arange(wave.shape[0]) / sample_rate
    top.plot(t, wave, linewidth=0.5)
    top.set_ylabel("amplitude")
    top.set_title(title or "audio of the clip's window")
    extent = (0.0, mel.shape[1] * hop_length / sample_rate, 0, mel.shape[0])
    im = bottom.imshow(mel, origin="lower", aspect="auto", extent=extent, cmap="magma")
    bottom.set_ylabel("mel bin")
    bottom.set_xlabel("seconds")
    fig.colorbar(im, ax=[top, bottom], shrink=0.6, label="dB")
    return fig


def plot_load_times(times: Mapping[str, float]):
    """Bar chart of the ``*_ms`` entries of :func:`compare_load_times`' result."""
    import matplotlib.pyplot as plt

    keys = [k for k in ("uncached_ms", "cache_miss_ms", "cache_hit_ms") if k in times]
    values = [times[k] for k in keys]
    fig, ax = plt.subplots(figsize=(5, 2.8))
    bars = ax.bar([k.replace("_ms", "").replace("_", " ") for k in keys], values, color=["C0", "C1", "C2"][: len(keys)])
    for bar, v in zip(bars, values):
        ax.annotate(f"{v:.1f} ms", (bar.get_x() + bar.get_width() / 2, v), ha="center", va="bottom", fontsize=8)
    ax.set_ylabel("ms per clip (median)")
    ax.set_title("loading one clip")
    fig.tight_layout()
    return fig
