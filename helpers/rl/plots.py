"""Figures for notebook 05: learning curves, accuracy vs frames, and the
``visualize_frame_sampling`` strip (every candidate frame, the agent's picks outlined
and numbered in the order it looked)."""
from __future__ import annotations

from pathlib import Path
from typing import Sequence

import numpy as np


def _smooth(values: Sequence[float], window: int) -> np.ndarray:
    v = np.asarray(values, dtype=float)
    if len(v) < window or window < 2:
        return v
    return np.convolve(v, np.ones(window) / window, mode="valid")


def plot_learning_curves(history, window: int = 50):
    """Episode reward, epsilon, frames per episode and training accuracy (moving averages)."""
    import matplotlib.pyplot as plt

    h = history if isinstance(history, dict) else history.to_dict()
    fig, axes = plt.subplots(1, 4, figsize=(16, 3.2))
    panels = [("reward", "episode reward"), ("epsilon", "epsilon"), ("frames", "frames looked"),
              ("correct", "training accuracy")]
    for ax, (key, title) in zip(axes, panels):
        ax.plot(h[key], alpha=0.25, color="C0") if key != "epsilon" else None
        ax.plot(np.arange(len(_smooth(h[key], window))) + (window - 1 if len(h[key]) >= window else 0),
                _smooth(h[key], window), color="C1" if key != "epsilon" else "C2")
        ax.set_title(title)
        ax.set_xlabel("episode")
    fig.tight_layout()
    return fig


def plot_accuracy_vs_frames(curves: dict[str, dict[int, float]], agent: dict | None = None,
                            agent_label: str = "DQN agent", extra_agents: dict[str, dict] | None = None):
    """One line per sampler (log2 frame axis) and the agent as a point at its mean frames."""
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(6.5, 4))
    for name, curve in curves.items():
        ks = sorted(curve)
        ax.plot(ks, [curve[k] for k in ks], marker="o", label=name, linestyle="--" if name == "oracle" else "-")
    points = dict(extra_agents or {})
    if agent is not None:
        points = {agent_label: agent, **points}
    for i, (label, a) in enumerate(points.items()):
        ax.scatter([a["mean_frames"]], [a["accuracy"]], s=120, marker="*", color=f"C{6 + i}", zorder=5,
                   label=f"{label} ({a['mean_frames']:.1f} frames)")
    ax.set_xscale("log", base=2)
    ax.set_xlabel("frames looked at per clip")
    ax.set_ylabel("top-1 accuracy")
    ax.set_ylim(0, 1.02)
    ax.grid(alpha=0.3)
    ax.legend(fontsize=8)
    fig.tight_layout()
    return fig


def candidate_frames(path: str | Path, frame_indices: Sequence[int], size: tuple[int, int] = (48, 64)) -> np.ndarray:
    """The candidate frames of one clip, uint8 (N, H, W, 3), for the strip."""
    from helpers.video import open_video

    with open_video(path) as reader:
        return reader.frames(list(frame_indices), size=size)


def visualize_frame_sampling(frames: np.ndarray, picks: Sequence[int], title: str = "",
                             event: tuple[int, int] | None = None, frame_indices: Sequence[int] | None = None,
                             columns: int = 16):
    """Strip of every candidate frame; the agent's picks get a red box and their order
    (1, 2, …); with ``event`` and ``frame_indices`` the frames inside the informative
    event get a green bar underneath."""
    import matplotlib.pyplot as plt
    from matplotlib.patches import Rectangle

    n = len(frames)
    cols = min(columns, n)
    rows = int(np.ceil(n / cols))
    fig, axes = plt.subplots(rows, cols, figsize=(cols * 0.9, rows * 0.95 + 0.4), squeeze=False)
    order = {int(p): i + 1 for i, p in enumerate(picks)}
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i >= n:
            continue
        ax.imshow(frames[i])
        h, w = frames[i].shape[:2]
        if event is not None and frame_indices is not None and event[0] >= 0 and event[0] <= frame_indices[i] <= event[1]:
            ax.add_patch(Rectangle((0, h - 4), w, 4, color="limegreen"))
        if i in order:
            ax.add_patch(Rectangle((0, 0), w - 1, h - 1, fill=False, edgecolor="red", linewidth=2.5))
            ax.text(2, 10, str(order[i]), color="white", fontsize=8, weight="bold",
                    bbox=dict(facecolor="red", pad=1, linewidth=0))
    fig.suptitle(title or f"{len(order)} of {n} frames looked at", fontsize=9)
    fig.tight_layout()
    return fig
