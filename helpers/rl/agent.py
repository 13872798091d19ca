"""``DQNAgent``: Double DQN with a target network, experience replay, a linear
epsilon-greedy schedule, Huber loss, gradient clipping and action masking.

Why written here (about 150 lines) rather than wrapping stable-baselines3: SB3's DQN has
no action masking (only its contrib MaskablePPO has) and it is not Double DQN; our
actions must exclude frames already seen, the network is a two-layer MLP, and the whole
algorithm fits on a page that tests can pin down — one dependency fewer for Kaggle.

Double DQN (van Hasselt et al. 2016): the online net picks the next action, the target
net values it: ``y = r + γ (1 − done) Q_target(s', argmax_a Q_online(s', a))`` with the
argmax over allowed actions only.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from helpers.atomic import atomic_open


@dataclass
class DQNConfig:
    hidden: int = 128
    lr: float = 1e-3
    gamma: float = 0.95
    batch_size: int = 64
    buffer_size: int = 50_000
    target_update: int = 250  # optimiser steps between hard target copies
    eps_start: float = 1.0
    eps_end: float = 0.05
    eps_decay_steps: int = 5_000  # environment steps of the linear decay
    grad_clip: float = 10.0
    seed: int = 0
    # share of exploratory actions that follow the preview heuristic's next look (the
    # env's ``preview_action``) instead of a uniform draw: the replay buffer then holds
    # the heuristic's episodes too, so the agent learns what they are worth and where it
    # can do better, not only what random looks are worth (as demonstrations in DQfD)
    guided: float = 0.0
    # (start, stop) slices of the observation that hold one value per candidate position
    # (``FrameSamplingEnv.position_slices``); set: :class:`PositionalQNetwork`, else an MLP
    position_slices: tuple[tuple[int, int], ...] | None = None
    # with position_slices: whether the network's shared summary also reads the whole
    # per-position slices (the previews' full shape: on a few hundred training clips that
    # shape names the clip, and the agent learns clip by clip). False: each position's
    # values reach only its own look's Q-value (agents saved before this option: True)
    summary_sees_positions: bool = False
    # with position_slices: added to each look's Q-value, this weight times the preview the
    # episode shows at that position (the audio envelope where the has-audio flag is set,
    # else the motion preview). At 0 the network starts from nothing; above 0 its untrained
    # greedy looks are the preview heuristic's, and training learns a correction to them
    prior_weight: float = 0.0
    # with prior_weight: None lets the network's per-look values reorder the preview's
    # candidates freely; a number bounds how far: each look's Q-value is then a value of
    # looking on (shared by every candidate, from the summary) plus the prior plus at most
    # this much either way (a tanh). 0 keeps the preview's order, so the agent learns only
    # when to stop; on a preview that already finds the action the learned reordering
    # is what can lose to the heuristic on unseen clips
    advantage_limit: float | None = None

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class QNetwork(nn.Module):
    def __init__(self, obs_dim: int, n_actions: int, hidden: int) -> None:
        super().__init__()
        self.net = nn.Sequential(nn.Linear(obs_dim, hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU(),
                                 nn.Linear(hidden, n_actions))

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        return self.net(obs)


class PositionalQNetwork(nn.Module):
    """``Q(s, look at i)`` from a summary of the whole observation plus position ``i``'s
    own values (each of ``slices`` at ``i`` and its two neighbours, and ``i`` one-hot);
    ``Q(s, STOP)`` from the summary alone (the last action).

    Why: the useful rules are the same at every position ("look where the audio is loud
    and you have not looked yet"); an MLP with one output per position has to learn them
    once per position from the episodes that happened to need that position, while here
    they are shared weights (as a convolution shares them over space).

    ``summary_sees_positions`` False: the summary reads only the values that are not per
    position (the classifier's answer, the budget, the seen features, the has-audio flag),
    so where to look is decided from each position's own preview and what was seen so
    far, not from the whole preview's shape.

    ``prior_weight`` > 0 adds that weight times the preview the episode shows to each
    look's Q-value: ``slices`` are then the env's (looked-at mask, audio envelope, motion
    preview), the has-audio flag right after the audio envelope
    (:attr:`~helpers.rl.env.FrameSamplingEnv.position_slices`).

    ``advantage_limit`` (with ``prior_weight``): look ``i``'s Q-value is
    ``value(summary) + prior_weight · preview_i + limit · tanh(local_i)``, so the learned
    part can move a candidate at most ``limit`` against the preview (0: the preview's order,
    only the value of looking on against stopping is learned)."""

    def __init__(self, obs_dim: int, n_actions: int, hidden: int, slices,
                 summary_sees_positions: bool = True, prior_weight: float = 0.0,
                 advantage_limit: float | None = None) -> None:
        super().__init__()
        self.n = n_actions - 1
        self.slices = [tuple(int(v) for v in s) for s in slices]
        for a, b in self.slices:
            if b - a != self.n:
                raise ValueError(f"position slice {a}:{b} does not hold {self.n} values")
        keep = np.ones(obs_dim, bool)
        if not summary_sees_positions:
            for a, b in self.slices:
                keep[a:b] = False
        self.register_buffer("summary_inputs", torch.from_numpy(np.flatnonzero(keep)), persistent=False)
        self.body = nn.Sequential(nn.Linear(int(keep.sum()), hidden), nn.ReLU(), nn.Linear(hidden, hidden), nn.ReLU())
        local = 3 * len(self.slices) + self.n
        self.look = nn.Sequential(nn.Linear(hidden + local, hidden), nn.ReLU(), nn.Linear(hidden, 1))
        self.stop = nn.Linear(hidden, 1)
        self.register_buffer("where", torch.eye(self.n), persistent=False)  # one-hot position
        self.prior_weight = float(prior_weight)
        if self.prior_weight and len(self.slices) < 3:
            raise ValueError("prior_weight needs the (looked-at, audio, motion) position slices")
        if advantage_limit is not None and (advantage_limit < 0 or not self.prior_weight):
            raise ValueError(f"advantage_limit needs prior_weight > 0 and a limit ≥ 0, got {advantage_limit}")
        self.advantage_limit = advantage_limit
        self.look_value = nn.Linear(hidden, 1) if advantage_limit is not None else None

    def prior(self, obs: torch.Tensor) -> torch.Tensor:
        """(B, N) the preview each observation shows: audio where its flag is set, else motion."""
        (_, _), (audio_a, audio_b), (motion_a, motion_b) = self.slices[:3]
        flag = obs[:, audio_b:audio_b + 1]
        return flag * obs[:, audio_a:audio_b] + (1 - flag) * obs[:, motion_a:motion_b]

    def forward(self, obs: torch.Tensor) -> torch.Tensor:
        h = self.body(obs[:, self.summary_inputs])
        local = []
        for a, b in self.slices:
            v = obs[:, a:b]
            pad = torch.zeros_like(v[:, :1])
            local += [v, torch.cat([pad, v[:, :-1]], 1), torch.cat([v[:, 1:], pad], 1)]
        z = torch.cat([h[:, None].expand(-1, self.n, -1), torch.stack(local, -1),
                       self.where.expand(obs.shape[0], -1, -1)], -1)
        look = self.look(z)[..., 0]
        if self.look_value is not None:
            look = self.look_value(h) + self.advantage_limit * torch.tanh(look)
        if self.prior_weight:
            look = look + self.prior_weight * self.prior(obs)
        return torch.cat([look, self.stop(h)], 1)


def build_q_network(obs_dim: int, n_actions: int, cfg: DQNConfig) -> nn.Module:
    if (cfg.prior_weight or cfg.advantage_limit is not None) and not cfg.position_slices:
        raise ValueError("prior_weight and advantage_limit need position_slices (the positional Q-network reads "
                         "the previews)")
    if cfg.position_slices:
        return PositionalQNetwork(obs_dim, n_actions, cfg.hidden, cfg.position_slices, cfg.summary_sees_positions,
                                  cfg.prior_weight, cfg.advantage_limit)
    return QNetwork(obs_dim, n_actions, cfg.hidden)


class ReplayBuffer:
    """Fixed-size ring of transitions (with the next state's action mask)."""

    def __init__(self, capacity: int, obs_dim: int, n_actions: int) -> None:
        self.capacity, self.size, self.pos = capacity, 0, 0
        self.obs = np.zeros((capacity, obs_dim), np.float32)
        self.next_obs = np.zeros((capacity, obs_dim), np.float32)
        self.actions = np.zeros(capacity, np.int64)
        self.rewards = np.zeros(capacity, np.float32)
        self.dones = np.zeros(capacity, np.float32)
        self.next_masks = np.ones((capacity, n_actions), bool)

    def add(self, obs, action, reward, next_obs, done, next_mask) -> None:
        i = self.pos
        self.obs[i], self.actions[i], self.rewards[i] = obs, action, reward
        self.next_obs[i], self.dones[i], self.next_masks[i] = next_obs, float(done), next_mask
        self.pos = (i + 1) % self.capacity
        self.size = min(self.size + 1, self.capacity)

    def sample(self, batch: int, rng: np.random.Generator) -> dict[str, torch.Tensor]:
        idx = rng.integers(0, self.size, size=batch)
        return {k: torch.as_tensor(getattr(self, k)[idx]) for k in
                ("obs", "actions", "rewards", "next_obs", "dones", "next_masks")}


def _masked(q: torch.Tensor, mask: torch.Tensor | np.ndarray | None) -> torch.Tensor:
    if mask is None:
        return q
    m = torch.as_tensor(mask, dtype=torch.bool, device=q.device)
    return q.masked_fill(~m, float("-inf"))


class DQNAgent:
    """See the module docstring. ``act(obs, mask, explore)``; ``observe(...)`` stores a
    transition; ``update()`` does one optimiser step (returns the loss or None while
    the buffer is smaller than a batch)."""

    def __init__(self, obs_dim: int, n_actions: int, config: DQNConfig | None = None) -> None:
        self.config = cfg = config or DQNConfig()
        self.obs_dim, self.n_actions = obs_dim, n_actions
        torch.manual_seed(cfg.seed)
        self.rng = np.random.default_rng(cfg.seed)
        self.online = build_q_network(obs_dim, n_actions, cfg)
        self.target = build_q_network(obs_dim, n_actions, cfg)
        self.target.load_state_dict(self.online.state_dict())
        self.target.requires_grad_(False)
        self.optimizer = torch.optim.Adam(self.online.parameters(), lr=cfg.lr)
        self.buffer = ReplayBuffer(cfg.buffer_size, obs_dim, n_actions)
        self.env_steps = 0
        self.updates = 0

    @property
    def epsilon(self) -> float:
        cfg = self.config
        frac = min(1.0, self.env_steps / max(1, cfg.eps_decay_steps))
        return cfg.eps_start + frac * (cfg.eps_end - cfg.eps_start)

    @torch.no_grad()
    def q_values(self, obs: np.ndarray) -> np.ndarray:
        return self.online(torch.as_tensor(obs, dtype=torch.float32)[None])[0].numpy()

    def act(self, obs: np.ndarray, mask: np.ndarray | None = None, explore: bool = False,
            hint: int | None = None) -> int:
        """Greedy action among the allowed ones (epsilon-greedy when ``explore``; an
        exploratory action is ``hint`` with probability ``config.guided``)."""
        if explore and self.rng.random() < self.epsilon:
            if hint is not None and self.config.guided > 0 and self.rng.random() < self.config.guided:
                return int(hint)
            allowed = np.flatnonzero(mask) if mask is not None else np.arange(self.n_actions)
            return int(self.rng.choice(allowed))
        return int(torch.argmax(_masked(torch.from_numpy(self.q_values(obs)), mask)))

    def observe(self, obs, action, reward, next_obs, done, next_mask=None) -> None:
        self.buffer.add(obs, action, reward, next_obs, done,
                        np.ones(self.n_actions, bool) if next_mask is None else next_mask)
        self.env_steps += 1

    def update(self) -> float | None:
        cfg = self.config
        if self.buffer.size < cfg.batch_size:
            return None
        b = self.buffer.sample(cfg.batch_size, self.rng)
        q = self.online(b["obs"]).gather(1, b["actions"][:, None])[:, 0]
        with torch.no_grad():
            next_a = _masked(self.online(b["next_obs"]), b["next_masks"]).argmax(1, keepdim=True)
            next_q = self.target(b["next_obs"]).gather(1, next_a)[:, 0]
            y = b["rewards"] + cfg.gamma * (1.0 - b["dones"]) * next_q
        loss = nn.functional.smooth_l1_loss(q, y)
        self.optimizer.zero_grad()
        loss.backward()
        nn.utils.clip_grad_norm_(self.online.parameters(), cfg.grad_clip)
        self.optimizer.step()
        self.updates += 1
        if self.updates % cfg.target_update == 0:
            self.target.load_state_dict(self.online.state_dict())
        return float(loss.detach())

    # ------------------------------------------------------------- save / load
    def state_dict(self) -> dict[str, Any]:
        return {"online": self.online.state_dict(), "target": self.target.state_dict(),
                "optimizer": self.optimizer.state_dict(), "config": self.config.to_dict(),
                "obs_dim": self.obs_dim, "n_actions": self.n_actions, "env_steps": self.env_steps,
                "updates": self.updates}

    def save(self, path: str | Path, extra: dict[str, Any] | None = None) -> Path:
        """Atomic ``torch.save`` (:mod:`helpers.atomic`); ``extra`` (plain data) is kept alongside."""
        path = Path(path)
        with atomic_open(path, "wb") as fh:
            torch.save({**self.state_dict(), "extra": extra or {}}, fh)
        return path

    @classmethod
    def load(cls, path: str | Path) -> "DQNAgent":
        path = Path(path)
        if not path.is_file():
            raise FileNotFoundError(f"agent checkpoint not found: {path}")
        try:
            state = torch.load(path, map_location="cpu", weights_only=True)
        except Exception as exc:  # corrupt or foreign file
            raise ValueError(f"{path}: not an agent checkpoint ({exc})") from exc
        # saved before the option existed: the summary read every value
        agent = cls(state["obs_dim"], state["n_actions"], DQNConfig(**{"summary_sees_positions": True,
                                                                       **state["config"]}))
        agent.online.load_state_dict(state["online"])
        agent.target.load_state_dict(state["target"])
        agent.optimizer.load_state_dict(state["optimizer"])
        agent.env_steps, agent.updates = state["env_steps"], state["updates"]
        agent.extra = state.get("extra", {})
        return agent
