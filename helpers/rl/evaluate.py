"""Accuracy-vs-frames curves of the samplers and the agent, and the frames-saved ratio
``uniform frames needed to reach the agent's accuracy / the agent's mean frames``."""
from __future__ import annotations

import time
from typing import Any, Sequence

import numpy as np

from helpers.rl.agent import DQNAgent
from helpers.rl.baselines import SAMPLERS, oracle_orders, sampler_positions
from helpers.rl.env import FrameSamplingEnv
from helpers.rl.features import FeatureSet
from helpers.rl.subsets import SubsetClassifier, positions_accuracy
from helpers.rl.trainer import run_policy

BUDGETS: tuple[int, ...] = (1, 2, 4, 8, 16, 32)


def accuracy_curves(fs: FeatureSet, classifier: SubsetClassifier, budgets: Sequence[int] = BUDGETS,
                    samplers: Sequence[str] = SAMPLERS, seed: int = 0, random_repeats: int = 3) -> dict[str, dict[int, float]]:
    """``{sampler: {k: accuracy}}`` at every budget ``k ≤ N`` (random: mean of repeats);
    the motion-preview samplers only when the features carry the preview."""
    budgets = [k for k in budgets if k <= fs.num_positions]
    if fs.motion_env is None:
        samplers = [s for s in samplers if s not in ("motion", "heuristic")]
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


def evaluate_agent(agent: DQNAgent, env: FrameSamplingEnv) -> dict[str, Any]:
    """Greedy episode on every clip of ``env``: accuracy, mean frames, picks (in order)."""
    picks, correct, frames = [], [], []
    start = time.perf_counter()
    for clip in range(env.fs.num_clips):
        looked, info = run_policy(agent, env, clip)
        picks.append(looked)
        correct.append(info["correct"])
        frames.append(info["frames_used"])
    return {"accuracy": float(np.mean(correct)), "mean_frames": float(np.mean(frames)), "picks": picks,
            "frames": frames, "seconds_per_clip": (time.perf_counter() - start) / max(1, env.fs.num_clips)}


def frames_saved_ratio(uniform_curve: dict[int, float], agent_accuracy: float, agent_frames: float,
                       tolerance: float = 1e-9) -> tuple[float, int | None]:
    """``(ratio, k)``: k = fewest uniform frames whose accuracy reaches the agent's
    (``uniform_curve`` should hold every k = 1…N). If uniform never reaches it, k is
    None and the ratio uses the largest k (a lower bound)."""
    ks = sorted(uniform_curve)
    reach = [k for k in ks if uniform_curve[k] >= agent_accuracy - tolerance]
    k = reach[0] if reach else None
    return float((k or ks[-1]) / max(agent_frames, 1e-9)), k
