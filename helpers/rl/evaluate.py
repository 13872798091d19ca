"""Accuracy-vs-frames curves of the samplers and the agent (free-running and under forced
frame caps), and the figures read from them: the frames saved at uniform sampling's best
accuracy (:func:`frames_saved_ratio`) and the agent's margin over the preview heuristic
(:func:`agent_vs_heuristic_min`), gathered per preview by :func:`sampling_figures`."""
from __future__ import annotations

import time
from dataclasses import dataclass
from typing import Any, Mapping, Sequence

import numpy as np

from helpers.rl.agent import DQNAgent
from helpers.rl.baselines import SAMPLERS, energy_positions, oracle_orders, sampler_positions
from helpers.rl.env import FrameSamplingEnv
from helpers.rl.features import FeatureSet
from helpers.rl.subsets import SubsetClassifier, positions_accuracy, positions_correct
from helpers.rl.trainer import run_policy

BUDGETS: tuple[int, ...] = (1, 2, 4, 8, 16, 32)
CAPS: tuple[int, ...] = (1, 2, 4, 8)  # forced frame caps of the agent's greedy run
TOLERANCE = 0.01  # "reaches an accuracy" = within one point of it (accuracies in 0–1)


def accuracy_curves(fs: FeatureSet, classifier: SubsetClassifier, budgets: Sequence[int] = BUDGETS,
                    samplers: Sequence[str] = SAMPLERS, seed: int = 0, random_repeats: int = 3) -> dict[str, dict[int, float]]:
    """``{sampler: {k: accuracy}}`` at every budget ``k ≤ N`` (random: mean of repeats);
    the motion- and packet-preview samplers only when the features carry the preview."""
    budgets = [k for k in budgets if k <= fs.num_positions]
    if fs.motion_env is None:
        samplers = [s for s in samplers if s not in ("motion", "heuristic")]
    if fs.packet_env is None:
        samplers = [s for s in samplers if s != "packets"]
    oracle = oracle_orders(fs, classifier, max(budgets)) if "oracle" in samplers else None
    out: dict[str, dict[int, float]] = {}
    for name in samplers:
        out[name] = {}
        for k in budgets:
            reps = random_repeats if name == "random" else 1
            accs = [positions_accuracy(fs, classifier, sampler_positions(name, fs, k, seed=seed + r, oracle=oracle))
                    for r in range(reps)]
            out[name][k] = float(np.mean(accs))
    return out


def evaluate_agent(agent: DQNAgent, env: FrameSamplingEnv, max_frames: int | None = None,
                   exact: bool = False) -> dict[str, Any]:
    """Greedy episode on every clip of ``env``: accuracy, mean frames, picks (in order),
    frames and whether the answer was right, per clip.
    ``max_frames``: a forced cap on the frames of each episode, with ``exact`` exactly
    that many frames (see :func:`run_policy`)."""
    picks, correct, frames = [], [], []
    start = time.perf_counter()
    for clip in range(env.fs.num_clips):
        looked, info = run_policy(agent, env, clip, max_frames=max_frames, exact=exact)
        picks.append(looked)
        correct.append(info["correct"])
        frames.append(info["frames_used"])
    return {"accuracy": float(np.mean(correct)), "mean_frames": float(np.mean(frames)), "picks": picks,
            "frames": frames, "correct": [bool(c) for c in correct],
            "seconds_per_clip": (time.perf_counter() - start) / max(1, env.fs.num_clips)}


def cap_results(agent: DQNAgent, env: FrameSamplingEnv, caps: Sequence[int] = CAPS,
                exact: bool = False) -> dict[int, dict[str, Any]]:
    """``{c: evaluate_agent(..., max_frames=c)}``: the agent's accuracy when it may look at
    no more than ``c`` frames, A(c), comparable with any sampler's accuracy at budget c.
    ``exact``: when it must look at exactly ``c`` (its own stop left out), so that only
    which frames it picks differs from a sampler at the same budget."""
    return {int(c): evaluate_agent(agent, env, max_frames=int(c), exact=exact) for c in caps}


@dataclass(frozen=True)
class FramesSaved:
    """What :func:`frames_saved_ratio` read from the curves (accuracies 0–1)."""

    best_uniform_accuracy: float  # U* = max over k of U(k)
    uniform_frames: int  # k* = fewest uniform frames with U(k) ≥ U* − tolerance
    agent_frames: float | None  # c* = the smallest agent budget with accuracy ≥ U* − tolerance (None: none)
    agent_index: int | None  # which of the agent points gave c*
    ratio: float | None  # k* / c* (None when the agent never reaches U* − tolerance)


def frames_saved_ratio(uniform_curve: Mapping[int, float], agent_points: Sequence[tuple[float, float]],
                       tolerance: float = TOLERANCE) -> FramesSaved:
    """Frames saved at uniform sampling's best accuracy: ``k* / c*``.

    ``uniform_curve`` is U(k) at every budget k = 1…N (a sparse curve would move k*);
    ``agent_points`` are ``(budget, accuracy)`` pairs of the agent: a forced cap c with
    A(c), or the free-running mean frames n with its accuracy. The target is U* − tolerance
    (U* the best uniform accuracy), so the comparison is with uniform sampling at its best,
    not at an arbitrary budget; k* is the fewest uniform frames reaching the target, c* the
    smallest agent budget reaching it. When no agent point reaches it, c* and the ratio
    are None (no saving can be claimed)."""
    if not uniform_curve:
        raise ValueError("the uniform curve is empty")
    eps = 1e-9  # accuracies are ratios of clip counts; guard the comparison against rounding
    best = max(uniform_curve.values())
    target = best - tolerance
    k_star = min(k for k, acc in uniform_curve.items() if acc >= target - eps)
    reach = [(float(b), i) for i, (b, acc) in enumerate(agent_points) if acc >= target - eps]
    if not reach:
        return FramesSaved(float(best), int(k_star), None, None, None)
    c_star, index = min(reach)
    return FramesSaved(float(best), int(k_star), c_star, index, float(k_star / max(c_star, 1e-9)))


def top_in_event(frame_indices: np.ndarray, envelope: np.ndarray, event: Sequence[int], k: int = 1) -> float:
    """Share of one clip's top-``k`` candidates of ``envelope`` (N,) — ranked as
    :func:`~helpers.rl.baselines.energy_positions` ranks it — whose video frame index
    (``frame_indices``, N) lies in ``event``, its half-open ``(start, end)`` frame window."""
    picks = np.asarray(frame_indices)[energy_positions(np.asarray(envelope), k)]
    return float(np.mean((picks >= int(event[0])) & (picks < int(event[1]))))


def event_hit_rate(fs: FeatureSet, envelope: np.ndarray, k: int = 1) -> float:
    """:func:`top_in_event` of ``envelope`` (M, N), a preview, averaged over the clips
    whose event is known (NaN when none is): how well a preview finds the action before
    any classifier sees a frame."""
    known = np.flatnonzero(fs.events[:, 0] >= 0)
    if not len(known):
        return float("nan")
    return float(np.mean([top_in_event(fs.frame_indices[i], envelope[i], fs.events[i], k) for i in known]))


def smallest_budget_reaching(curve: Mapping[int, float], target: float) -> int | None:
    """The smallest budget ``k`` of ``curve`` with accuracy ≥ ``target`` (None: none)."""
    eps = 1e-9  # accuracies are ratios of clip counts
    reach = [int(k) for k, acc in curve.items() if acc >= target - eps]
    return min(reach) if reach else None


def agent_vs_heuristic_min(agent_caps: Mapping[int, float], heuristic: Mapping[int, float]) -> float | None:
    """min over the caps c of A(c) − H(c), in points (×100): how far the agent falls below
    (negative) or stays above the preview heuristic at its worst budget. Only caps where
    both curves have a value count; None when there is none."""
    common = sorted(set(agent_caps) & set(heuristic))
    if not common:
        return None
    return float(min(100.0 * (agent_caps[c] - heuristic[c]) for c in common))


def paired_interval(a_correct: Sequence[bool], b_correct: Sequence[bool], level: float = 0.95, draws: int = 4000,
                    seed: int = 0) -> tuple[float, float]:
    """Bootstrap interval (percentile, over clips drawn with replacement, the same clips
    for both) of accuracy ``a`` minus accuracy ``b``, in points: how far the difference of
    two samplers on the same clips could move with other clips like these. On 90 clips one
    clip is 1.1 points, so a gap of two clips is often inside it."""
    a, b = np.asarray(a_correct, np.float64), np.asarray(b_correct, np.float64)
    if a.shape != b.shape or not a.size:
        raise ValueError(f"need two per-clip results of the same clips, got {a.shape} and {b.shape}")
    rng = np.random.default_rng(seed)
    means = (a - b)[rng.integers(0, a.size, (int(draws), a.size))].mean(1)
    low, high = np.quantile(means, [(1 - level) / 2, (1 + level) / 2])
    return float(100.0 * low), float(100.0 * high)


def worst_cap_margin(caps: Mapping[int, Mapping[str, Any]], fs: FeatureSet, classifier: SubsetClassifier,
                     heuristic: str, level: float = 0.95) -> dict[str, Any] | None:
    """The cap where the agent is furthest below the preview heuristic (``caps``:
    :func:`cap_results` on ``fs``; ``heuristic``: a :func:`sampler_positions` name) and how
    sure that margin is: ``{"cap", "margin"`` (points, as :func:`agent_vs_heuristic_min`
    reads it), ``"interval"`` (:func:`paired_interval` on the same clips)``}``; None without caps."""
    caps = {c: r for c, r in caps.items() if int(c) <= fs.num_positions}  # the heuristic's budgets stop at N
    if not caps:
        return None
    per_cap = {}
    for c, result in sorted(caps.items()):
        right = positions_correct(fs, classifier, sampler_positions(heuristic, fs, int(c)))
        per_cap[int(c)] = (np.asarray(result["correct"], bool), right)
    cap = min(per_cap, key=lambda c: (per_cap[c][0].mean() - per_cap[c][1].mean(), c))
    agent, held = per_cap[cap]
    return {"cap": cap, "margin": float(100.0 * (agent.mean() - held.mean())),
            "interval": list(paired_interval(agent, held, level))}


def sampling_figures(uniform_all: Mapping[int, float], curves: Mapping[str, Mapping[int, float]],
                     free: Mapping[str, Any], caps: Mapping[int, Mapping[str, Any]], heuristic: str,
                     tolerance: float = TOLERANCE) -> tuple[dict[str, Any], FramesSaved]:
    """The figures of one preview (with sound, or silent), unrounded, and the
    :class:`FramesSaved` they came from.

    ``uniform_all``: U(k) at every k; ``curves``: the samplers at the budgets;
    ``free``: :func:`evaluate_agent`'s result of the free-running agent; ``caps``:
    :func:`cap_results` (may be empty); ``heuristic``: the name of the sampler the agent
    is held to (``"heuristic"`` with sound, ``"motion"`` silent). The keys:
    ``best_uniform_accuracy``, ``uniform_k_star``, ``agent_budget_star``,
    ``frames_saved_ratio``, ``agent_vs_heuristic_min`` (points), ``agent_accuracy``,
    ``agent_mean_frames`` and ``curves`` (uniform, random, heuristic, packets, oracle at
    the budgets; agent_caps: A(c))."""
    agent_caps = {int(c): float(r["accuracy"]) for c, r in sorted(caps.items())}
    points = [(float(free["mean_frames"]), float(free["accuracy"]))] + [(float(c), a) for c, a in agent_caps.items()]
    saved = frames_saved_ratio(uniform_all, points, tolerance)
    h_curve = dict(curves.get(heuristic, {}))
    shown = {name: dict(curves[name]) for name in ("uniform", "random") if name in curves}
    if h_curve:
        shown["heuristic"] = h_curve
    if "packets" in curves:
        shown["packets"] = dict(curves["packets"])
    if "oracle" in curves:
        shown["oracle"] = dict(curves["oracle"])
    shown["agent_caps"] = agent_caps
    figures = {"best_uniform_accuracy": saved.best_uniform_accuracy, "uniform_k_star": saved.uniform_frames,
               "agent_budget_star": saved.agent_frames, "frames_saved_ratio": saved.ratio,
               "agent_vs_heuristic_min": agent_vs_heuristic_min(agent_caps, h_curve),
               "agent_accuracy": float(free["accuracy"]), "agent_mean_frames": float(free["mean_frames"]),
               "curves": shown}
    return figures, saved
