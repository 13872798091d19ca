"""``RLTrainer``: runs episodes of a :class:`FrameSamplingEnv`, feeds the replay buffer,
updates the :class:`DQNAgent`, and keeps per-episode learning curves."""
from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from helpers.rl.agent import DQNAgent
from helpers.rl.env import FrameSamplingEnv


@dataclass
class RLHistory:
    """One entry per training episode."""

    reward: list[float] = field(default_factory=list)
    epsilon: list[float] = field(default_factory=list)
    frames: list[int] = field(default_factory=list)
    correct: list[bool] = field(default_factory=list)
    loss: list[float] = field(default_factory=list)  # mean loss of the episode's updates (nan before any)

    def to_dict(self) -> dict[str, list]:
        return {k: list(v) for k, v in self.__dict__.items()}

    def summary(self, last: int = 200) -> dict[str, float]:
        tail = slice(-last, None)
        return {"episodes": len(self.reward), "mean_reward": float(np.mean(self.reward[tail])),
                "mean_frames": float(np.mean(self.frames[tail])), "accuracy": float(np.mean(self.correct[tail])),
                "epsilon": float(self.epsilon[-1])}


class RLTrainer:
    """``fit(episodes)`` trains; ``run_episode(clip, explore=False)`` plays one greedy
    episode and returns ``(looked positions in order, info)``."""

    def __init__(self, env: FrameSamplingEnv, agent: DQNAgent, *, updates_per_step: int = 1,
                 seed: int = 0) -> None:
        self.env, self.agent = env, agent
        self.updates_per_step = updates_per_step
        self.history = RLHistory()
        self._seed = seed
        self._first = True

    def fit(self, episodes: int, progress: bool = True) -> RLHistory:
        """Play ``episodes`` training episodes (at most the step budget's number)."""
        from tqdm.auto import trange

        from helpers.settings import within_budget

        bar = trange(within_budget(episodes), desc="DQN", disable=not progress, leave=False)
        for _ in bar:
            obs, info = self.env.reset(seed=self._seed if self._first else None)
            self._first = False
            total, losses, done = 0.0, [], False
            while not done:
                a = self.env.forced_action(info)
                if a is None:
                    a = self.agent.act(obs, info["action_mask"], explore=True, hint=info.get("preview_action"))
                nxt, r, term, trunc, info = self.env.step(a)
                done = term or trunc
                self.agent.observe(obs, a, r, nxt, term, info["action_mask"])
                for _ in range(self.updates_per_step):
                    loss = self.agent.update()
                    if loss is not None:
                        losses.append(loss)
                obs, total = nxt, total + r
            h = self.history
            h.reward.append(total)
            h.epsilon.append(self.agent.epsilon)
            h.frames.append(info["frames_used"])
            h.correct.append(info["correct"])
            h.loss.append(float(np.mean(losses)) if losses else float("nan"))
            if progress and len(h.reward) % 50 == 0:
                bar.set_postfix(reward=f"{np.mean(h.reward[-50:]):.3f}", frames=f"{np.mean(h.frames[-50:]):.2f}",
                                acc=f"{np.mean(h.correct[-50:]):.2f}", eps=f"{self.agent.epsilon:.2f}")
        return self.history

    def run_episode(self, clip: int, env: FrameSamplingEnv | None = None) -> tuple[list[int], dict[str, Any]]:
        """Greedy episode on ``clip`` of ``env`` (default: the training env)."""
        return run_policy(self.agent, env or self.env, clip)

    def save(self, path: str | Path) -> Path:
        return self.agent.save(path, extra={"history": self.history.to_dict(),
                                            "env_config": self.env.config.to_dict()})


def run_policy(agent: DQNAgent, env: FrameSamplingEnv, clip: int,
               max_frames: int | None = None, answer: bool = True,
               exact: bool = False) -> tuple[list[int], dict[str, Any]]:
    """The agent's greedy picks on one clip (in the order taken) and the final info (the
    env's :meth:`~helpers.rl.env.FrameSamplingEnv.forced_action`, a first look that is
    the preview's, comes before the agent's own).

    ``max_frames`` forces a cap: the episode ends once that many frames were looked at,
    if the agent has not stopped before (the answer is then the classifier's on those
    frames). The agent is not told the cap (its observation is the env's as usual), so
    the run measures what its first ``max_frames`` picks are worth.

    ``exact=True`` (with ``max_frames``): STOP is masked until the cap is reached, so the
    agent looks at exactly ``max_frames`` frames (its best next looks by its own
    Q-values): which frames it picks at the budget a fixed sampler has, apart from when
    it would stop.

    ``answer=False``: the look that reaches the cap (``max_frames`` or the env's own) is
    taken without stepping the env, so the classifier is not asked about it; nothing
    after it needs that answer. The picks are the same; ``info`` is then the one
    before that last look."""
    if max_frames is not None and max_frames < 1:
        raise ValueError(f"max_frames must be ≥ 1, got {max_frames}")
    cap = env.config.max_frames if max_frames is None else min(int(max_frames), env.config.max_frames)
    if exact and max_frames is None:
        raise ValueError("exact=True needs max_frames")
    obs, info = env.reset(options={"clip": clip})
    done = False
    while not done:
        a = env.forced_action(info)
        if a is None:
            mask = info["action_mask"]
            if exact and info["frames_used"] < cap and mask[:env.stop_action].any():
                mask = mask.copy()
                mask[env.stop_action] = False
            a = agent.act(obs, mask, explore=False)
        if not answer and a != env.stop_action and info["frames_used"] + 1 >= cap:
            return list(info["looked"]) + [int(a)], info
        obs, _, term, trunc, info = env.step(a)
        done = term or trunc or (max_frames is not None and info["frames_used"] >= max_frames)
    return list(info["looked"]), info
