"""``FrameSamplingEnv``: one episode = one clip; the agent looks at candidate frames one
at a time (or first "listens" to the audio envelope) and stops when it is sure enough.

Actions: ``0 … N-1`` look at candidate position ``a``; ``N`` is STOP. A second look at
the same frame changes nothing and still uses budget (``info["action_mask"]`` says
which actions are new, and the agent masks the others). The episode ends on STOP or
when ``max_frames`` looks are used.

Reward of a look (the label is used here, for training only; never in the observation):
``gain_weight·Δp(true class) + correct_weight·Δcorrect − frame_cost
− over_target_cost·[frames > target_frames] + anytime_weight·correct``. Without the last
term it telescopes over an episode to "how right the final answer is minus what the
frames cost": the order of the looks is then nearly free, and an agent that finds the
event on its fourth look is paid like one that looks there first. The ``anytime_weight``
term (with STOP paying it once per look left in the budget, the answer standing) adds
the area under the accuracy-by-frames curve, so being right early pays: what a forced
frame cap, or a user with little time, needs. With nothing seen the prediction is the
uniform prior and counts as not correct.

Observation (float32 vector): classifier probabilities (C), confidence, normalised
entropy, top-2 margin, the looked-at mask (N), budget used (1), the mean of the looked
frames' features projected to ``d`` dims (optional), the audio envelope (N) and a
has-audio flag (zeros when ``use_audio`` is off or the clip is silent), and with
``use_motion`` the motion-energy preview (N; :func:`helpers.rl.features.motion_energy`),
which every clip has, silent or not.

With ``first_look="preview"`` every episode opens with the preview heuristic's look (the
candidate at the top of the preview it shows: :meth:`FrameSamplingEnv.forced_action`, which
the trainer and :func:`~helpers.rl.trainer.run_policy` take before asking the agent): the
preview is paid for already, so its best guess is the first frame, and the agent learns
where to look next and when to stop. With ``look_order="preview"`` every look is the
preview's next candidate (the action mask allows that one and STOP), with ``"spread"``
the candidate farthest from the looks so far (a first look from the preview stays): the
agent then learns only how many frames a clip needs, AdaFrame's stopping without its
choice of frames. With ``"preview_or_spread"`` each look is one of those two, the agent
choosing: follow the preview where it has found something, spread where it is flat.

With ``audio_dropout`` > 0 (training only) each episode hides the audio preview with
that probability, drawn at reset from the env's seeded RNG: the observation is then what
a silent clip gives, so one agent learns to sample clips with sound and silent ones.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import TYPE_CHECKING, Any

import gymnasium as gym
import numpy as np

from helpers.rl.features import FeatureSet
from helpers.rl.subsets import SubsetClassifier

if TYPE_CHECKING:
    from helpers.rl.classifier import OutOfFoldClassifier


LOOK_ORDERS = ("agent", "preview", "spread", "preview_or_spread")  # EnvConfig.look_order
OBS_LIMIT = 10.0  # the projected-feature summary is clipped to ±10 (whitened, so rarely hit)


@dataclass
class EnvConfig:
    """Frame budget (``max_frames``, ``target_frames``) and reward weights."""

    max_frames: int = 8
    target_frames: int = 4
    gain_weight: float = 1.0
    correct_weight: float = 1.0
    frame_cost: float = 0.05
    over_target_cost: float = 0.05
    use_audio: bool = True
    use_motion: bool = True  # the silent preview in the observation (agents saved before it: False)
    audio_dropout: float = 0.0  # share of episodes that hide the audio preview (training; 0 to evaluate)
    # paid per look for being right after it, and at STOP for each look left in the budget
    # (the answer stands): the area under the accuracy-by-frames curve, so the first look
    # is the best single guess and every cap is served, not only the last frame
    anytime_weight: float = 0.0
    # "agent": the agent takes every look; "preview": the first look is the preview
    # heuristic's (the top of the preview the episode shows), the agent takes the rest and
    # decides when to stop, so one frame is never worse than the heuristic's one frame
    first_look: str = "agent"
    # "agent": each look any candidate not looked at yet; "preview": always the preview's
    # next candidate (the heuristic's order), "spread": the candidate farthest from every
    # look so far (after k looks about uniform sampling's k); in both the agent learns only
    # when to stop; "preview_or_spread": either of those two, the agent choosing which
    look_order: str = "agent"

    def __post_init__(self) -> None:
        if self.max_frames < 1 or self.target_frames < 1:
            raise ValueError("max_frames and target_frames must be ≥ 1")
        if not 0.0 <= self.audio_dropout <= 1.0:
            raise ValueError(f"audio_dropout must be in [0, 1], got {self.audio_dropout}")
        if self.first_look not in ("agent", "preview"):
            raise ValueError(f"first_look must be 'agent' or 'preview', got {self.first_look!r}")
        if self.look_order not in LOOK_ORDERS:
            raise ValueError(f"look_order must be one of {LOOK_ORDERS}, got {self.look_order!r}")

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def fit_projection(fs: FeatureSet, dims: int = 16) -> np.ndarray:
    """(F, dims+1) PCA projection of the training frames (last row: the mean offset), so
    the observation carries a small summary of what was seen."""
    x = fs.features.reshape(-1, fs.feature_dim).astype(np.float64)
    mean = x.mean(0)
    _, _, vt = np.linalg.svd(x - mean, full_matrices=False)
    comp = vt[:dims].T
    scale = (x - mean) @ comp
    comp = comp / (scale.std(0) + 1e-6)
    return np.vstack([comp, -mean @ comp]).astype(np.float32)


class FrameSamplingEnv(gym.Env):
    """See the module docstring. ``projection`` comes from :func:`fit_projection` on
    the training split (the same one for train and test environments). ``classifier``
    may answer each clip with its own (an out-of-fold classifier, for training)."""

    metadata = {"render_modes": []}

    def __init__(self, features: FeatureSet, classifier: SubsetClassifier | OutOfFoldClassifier,
                 config: EnvConfig | None = None, projection: np.ndarray | None = None) -> None:
        super().__init__()
        self.fs = features
        self.classifier = classifier
        self.config = cfg = config or EnvConfig()
        self.n = features.num_positions
        self.c = len(features.classes)
        if getattr(classifier, "num_classes", self.c) != self.c:
            raise ValueError(f"classifier has {classifier.num_classes} classes, the features {self.c}")
        self.projection = projection
        self.proj_dim = 0 if projection is None else projection.shape[1]
        self.motion_dim = self.n if cfg.use_motion else 0
        self.obs_dim = self.c + 3 + self.n + 1 + self.proj_dim + self.n + 1 + self.motion_dim
        self.action_space = gym.spaces.Discrete(self.n + 1)
        self.observation_space = gym.spaces.Box(-OBS_LIMIT, OBS_LIMIT, (self.obs_dim,), np.float32)
        self._cache: dict[tuple[int, int], np.ndarray] = {}
        self._proj_cache: dict[int, np.ndarray] = {}
        self.clip = 0
        self.looked: list[int] = []
        self.frames_used = 0
        self.probs = np.full(self.c, 1.0 / self.c)
        self.audio_hidden = False  # this episode hides the audio preview (audio_dropout)

    @property
    def position_slices(self) -> tuple[tuple[int, int], ...]:
        """Where the observation holds one value per candidate: the looked-at mask, the
        audio envelope and the motion preview (for :class:`~helpers.rl.agent.PositionalQNetwork`)."""
        mask_at = self.c + 3
        audio_at = self.obs_dim - self.motion_dim - self.n - 1
        slices = ((mask_at, mask_at + self.n), (audio_at, audio_at + self.n))
        if self.motion_dim:
            slices += ((self.obs_dim - self.n, self.obs_dim),)
        return slices

    @property
    def stop_action(self) -> int:
        return self.n

    # ------------------------------------------------------------- classifier
    def subset_probs(self, clip: int, positions: list[int]) -> np.ndarray:
        """Class probabilities of ``clip`` from ``positions`` (memoised per subset)."""
        key = (clip, sum(1 << p for p in set(positions)))
        hit = self._cache.get(key)
        if hit is None:
            mask = np.zeros((1, self.n), bool)
            mask[0, list(positions)] = True
            hit = self._classifier_for(clip).predict_proba(self.fs.features[clip][None], self.fs.times[clip][None],
                                                           mask)[0]
            self._cache[key] = hit
        return hit

    def _classifier_for(self, clip: int) -> SubsetClassifier:
        """The classifier answering ``clip``: per clip for an out-of-fold classifier
        (:class:`~helpers.rl.classifier.OutOfFoldClassifier`, training only), else the one."""
        for_clip = getattr(self.classifier, "for_clip", None)
        return self.classifier if for_clip is None else for_clip(clip)

    def _correct(self, probs: np.ndarray) -> float:
        return float(bool(self.looked) and int(np.argmax(probs)) == int(self.fs.labels[self.clip]))

    # ------------------------------------------------------------- observation
    def _observation(self) -> np.ndarray:
        p = self.probs
        top = np.sort(p)[::-1]
        entropy = float(-(p * np.log(np.clip(p, 1e-12, 1))).sum() / np.log(self.c))
        mask = np.zeros(self.n, np.float32)
        mask[self.looked] = 1.0
        parts = [p.astype(np.float32), np.array([top[0], entropy, top[0] - top[1]], np.float32), mask,
                 np.array([self.frames_used / self.config.max_frames], np.float32)]
        if self.projection is not None:
            if self.looked:
                mean = self.fs.features[self.clip, self.looked].mean(0)
                summary = mean @ self.projection[:-1] + self.projection[-1]
                parts.append(np.clip(summary, -OBS_LIMIT, OBS_LIMIT).astype(np.float32))
            else:
                parts.append(np.zeros(self.proj_dim, np.float32))
        audio = bool(self.config.use_audio and not self.audio_hidden and self.fs.has_audio[self.clip])
        parts.append(self.fs.audio_env[self.clip].astype(np.float32) if audio else np.zeros(self.n, np.float32))
        parts.append(np.array([float(audio)], np.float32))
        if self.motion_dim:
            motion = self.fs.motion_env
            parts.append(np.zeros(self.n, np.float32) if motion is None else motion[self.clip].astype(np.float32))
        return np.concatenate(parts).astype(np.float32)

    def action_mask(self) -> np.ndarray:
        """True for actions that are new looks (with a ``look_order``, only the one it
        allows next), and for STOP."""
        order = self.config.look_order
        if order != "agent":
            m = np.zeros(self.n + 1, bool)
            if len(self.looked) < self.n:
                if order in ("preview", "preview_or_spread"):
                    m[self.preview_action()] = True
                if order in ("spread", "preview_or_spread"):
                    m[self.spread_action()] = True
            m[self.stop_action] = True
            return m
        m = np.ones(self.n + 1, bool)
        m[self.looked] = False
        return m

    def spread_action(self) -> int:
        """The candidate farthest from every look so far and from the clip's two ends (the
        earliest of equals): the middle first, then the quarters, …"""
        anchors = np.array([-1, self.n, *self.looked])
        gap = np.abs(np.arange(self.n)[:, None] - anchors[None]).min(1)
        gap[self.looked] = -1
        return int(np.argmax(gap))

    def preview(self) -> np.ndarray:
        """(N,) the preview this episode shows: the audio envelope where the clip's sound
        is shown, else the motion preview (zeros when the features have none)."""
        if self.config.use_audio and not self.audio_hidden and self.fs.has_audio[self.clip]:
            return self.fs.audio_env[self.clip]
        if self.config.use_motion and self.fs.motion_env is not None:
            return self.fs.motion_env[self.clip]
        return np.zeros(self.n, np.float32)

    def preview_action(self) -> int:
        """The preview heuristic's next look: the unlooked candidate with the highest
        preview (ties by position), what ``energy_positions`` ranks first."""
        score = np.asarray(self.preview(), np.float64).copy()
        score[self.looked] = -np.inf
        return int(np.argmax(score))

    def forced_action(self, info: dict[str, Any]) -> int | None:
        """The action the episode takes whatever the agent would (``first_look="preview"``:
        the preview's top candidate as the first look), else None."""
        if self.config.first_look == "preview" and not info["looked"]:
            return int(info["preview_action"])
        return None

    def _info(self) -> dict[str, Any]:
        return {"clip": self.clip, "looked": list(self.looked), "frames_used": self.frames_used,
                "prediction": int(np.argmax(self.probs)), "correct": bool(self._correct(self.probs)),
                "action_mask": self.action_mask(), "preview_action": self.preview_action()}

    # ------------------------------------------------------------- gym API
    def reset(self, *, seed: int | None = None, options: dict[str, Any] | None = None):
        super().reset(seed=seed)
        if options and "clip" in options:
            self.clip = int(options["clip"])
            if not 0 <= self.clip < self.fs.num_clips:
                raise IndexError(f"clip {self.clip} out of range 0…{self.fs.num_clips - 1}")
        else:
            self.clip = int(self.np_random.integers(self.fs.num_clips))
        self.audio_hidden = self._draw_audio_hidden()
        self.looked = []
        self.frames_used = 0
        self.probs = np.full(self.c, 1.0 / self.c)
        return self._observation(), self._info()

    def _draw_audio_hidden(self) -> bool:
        """Whether the new episode hides the audio preview: a draw from the env's RNG with
        probability ``audio_dropout`` (no draw at 0, so such runs keep their clip sequence)."""
        p = self.config.audio_dropout
        return bool(p > 0 and self.np_random.random() < p)

    def step(self, action):
        action = int(action)
        if not 0 <= action <= self.n:
            raise ValueError(f"action {action} outside 0…{self.n}")
        cfg = self.config
        if action == self.stop_action:
            left = cfg.max_frames - self.frames_used
            return self._observation(), cfg.anytime_weight * left * self._correct(self.probs), True, False, self._info()
        self.frames_used += 1
        reward = -cfg.frame_cost
        if self.frames_used > cfg.target_frames:
            reward -= cfg.over_target_cost
        if action not in self.looked:
            y = int(self.fs.labels[self.clip])
            old_p, old_c = self.probs, self._correct(self.probs)
            self.looked.append(action)
            self.probs = self.subset_probs(self.clip, self.looked)
            reward += cfg.gain_weight * float(self.probs[y] - old_p[y]) + cfg.correct_weight * (
                self._correct(self.probs) - old_c)
        reward += cfg.anytime_weight * self._correct(self.probs)
        terminated = self.frames_used >= cfg.max_frames
        return self._observation(), float(reward), terminated, False, self._info()
