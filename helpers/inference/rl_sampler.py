"""Notebook 05's RL frame sampler applied to one new video: which frames the DQN agent
looks at (in the order it looks), and what its subset classifier says from them — for
the upload widget ("the frames the model looked at, and which the RL sampler picked")
and for ``predict_video(..., sampler="rl")`` (:func:`predict_with_sampler`: the model
answers from the picked frames).

Running the agent needs more than its Q-network: its observation holds the subset
classifier's probabilities after each look, a PCA summary of the seen features and the
audio envelope, so the bundle written by :func:`save_rl_sampler` keeps the agent *and*
the classifier (its weights), the projection, the environment config and how the
candidate features were computed (encoder, candidate count, frame size). It is an
ordinary :meth:`DQNAgent.save <helpers.rl.DQNAgent.save>` file with all that in
``extra["sampler"]`` (``DQNAgent.load`` still reads it). A file saved with the agent
only (notebook 05 before it called :func:`save_rl_sampler`) cannot be replayed; loading
it says so.

On a new video the candidates are computed exactly as :func:`helpers.rl.extract_features`
does for one clip (``num_positions`` uniform frames; flow, pixels or the trained
model's frame encoder; the audio envelope), the agent plays one greedy episode in a
:class:`~helpers.rl.FrameSamplingEnv` over them, and the picks map back to video
frame indices.

The same agent runs on clips with sound and silent ones (it was trained with the audio
preview hidden in a share of its episodes). Where the bundle records that it scored below
the preview heuristic on held-out clips of the same setting (with sound, or silent; the
validation clips where there are some:
:meth:`helpers.rl.RLPipeline.heuristic_comparison`),
:meth:`RLFrameSampler.pick` ranks the candidates by that heuristic instead
(:func:`choose_sampler`), at the agent's usual number of frames, and the pick says which
sampler chose and why. A bundle without that record runs the agent.
"""
from __future__ import annotations

import time
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Iterator

import numpy as np
import torch

SAMPLER_GLOB = "rl_frame_sampler*.pt"
ENCODERS = ("flow", "pixels", "model")


class RLSamplerError(ValueError):
    """An RL sampler file that cannot be used here: the message says why and what to do."""


AGENT = "agent"
UNIFORM = "uniform sampling"
# per setting: how the chooser is named, and the preview heuristic's name in a sentence
HEURISTIC_NAMES: dict[str, tuple[str, str]] = {"sound": ("heuristic: audio energy", "audio heuristic"),
                                               "silent": ("heuristic: motion energy", "motion heuristic")}
SETTING_WORDS: dict[str, str] = {"sound": "clips with sound", "silent": "silent clips"}


@dataclass(frozen=True)
class SamplerChoice:
    """Which sampler picks a clip's frames: the agent (looking at most at ``budget``
    frames when set), or the preview heuristic it is held to (``heuristic``: a
    :func:`helpers.rl.baselines.sampler_positions` name, looking at ``budget`` frames),
    and why in one sentence."""

    chosen_by: str  # AGENT or a HEURISTIC_NAMES display name
    reason: str
    heuristic: str | None = None
    budget: int | None = None


def choose_sampler(comparison: dict[str, Any] | None, has_audio: bool, max_frames: int) -> SamplerChoice:
    """The agent, unless the held-out ``comparison`` recorded for this clip's setting
    (``"sound"`` or ``"silent"``) says it scored below the preview heuristic at some cap:
    then that heuristic, at its own recorded budget (``heuristic_cap``: the fewest frames
    within a point of uniform sampling's best), else at the agent's free-running mean
    frames rounded (1…``max_frames``), so the user gets the better sampler. The agent runs under the
    record's ``cap`` (c*, its smallest budget as good as uniform sampling at its best)
    where there is one. Where the record says the agent saves no frames against uniform
    sampling at its best (``frames_saved_ratio`` ≤ 1 or none, as on trimmed clips the
    action fills) and the heuristic does not get there with fewer than k* frames:
    uniform sampling at k*, which needs no preview. No record: the agent, free-running."""
    setting = "sound" if has_audio else "silent"
    name, short = HEURISTIC_NAMES[setting]
    record = (comparison or {}).get(setting)
    split = (record or {}).get("split")  # the clips it was measured on (validation, or test)
    where = (SETTING_WORDS[setting].replace("clips", f"{split} clips") if split in ("validation", "test")
             else f"held-out {SETTING_WORDS[setting]}")
    if record is None:
        why = ("this sampler file records no comparison with the preview heuristic" if not comparison
               else f"this sampler file records no comparison with the {short} on {SETTING_WORDS[setting]}")
        return SamplerChoice(AGENT, why)
    # a record that knows k*: uniform sampling there, where the agent saves no frames against it
    uniform_k = int(record.get("uniform_k") or 0)
    ratio = record.get("frames_saved_ratio")
    saves_nothing = uniform_k > 0 and (ratio is None or float(ratio) <= 1.0)
    uniform = SamplerChoice(UNIFORM, f"the agent saved no frames against uniform sampling at its best on {where} "
                                     f"(k* = {uniform_k})", heuristic="uniform", budget=min(uniform_k, int(max_frames)))
    margin = record.get("agent_vs_heuristic_min")
    if margin is None:
        if saves_nothing:
            return uniform
        return SamplerChoice(AGENT, f"the agent and the {short} share no measured frame cap on {where}")
    if margin >= -1e-9 and saves_nothing:
        return uniform
    if margin >= -1e-9:
        cap = record.get("cap")
        return SamplerChoice(AGENT, f"the agent scored at least as well as the {short} on {where} "
                                    f"(worst cap {margin:+.1f} points)" + (f"; looks at most {cap}" if cap else ""),
                             budget=int(cap) if cap else None)
    mean = record.get("agent_mean_frames")
    budget = max_frames if mean is None else int(np.floor(float(mean) + 0.5))
    if record.get("heuristic_cap"):  # its own smallest budget as good as uniform sampling at its best
        budget = int(record["heuristic_cap"])
    if saves_nothing and (not record.get("heuristic_cap") or int(record["heuristic_cap"]) >= uniform_k):
        return uniform
    return SamplerChoice(name, f"the agent scored {-margin:.1f} points below the {short} on {where}",
                         heuristic=str(record["heuristic"]), budget=max(1, min(int(max_frames), budget)))


class EncodeOnLook:
    """A subset classifier over a one-clip FeatureSet whose features are computed only
    when a prediction first needs them: before each call, the masked candidates not yet
    encoded are encoded (``encode(positions)`` → (k, F)) into ``fs.features`` in place.
    ``encoded`` counts them (what the cost of a pick grows with)."""

    def __init__(self, classifier: Any, fs: Any, encode: Any) -> None:
        self.classifier, self.fs, self.encode = classifier, fs, encode
        self.num_classes = getattr(classifier, "num_classes", len(fs.classes))
        self.done = np.zeros(fs.num_positions, bool)

    @property
    def encoded(self) -> int:
        return int(self.done.sum())

    def predict_proba(self, features: np.ndarray, times: np.ndarray, mask: np.ndarray) -> np.ndarray:
        todo = np.flatnonzero(np.asarray(mask, bool).any(0) & ~self.done)
        if len(todo):
            self.fs.features[0, todo] = self.encode(todo)
            self.done[todo] = True
        return self.classifier.predict_proba(self.fs.features[np.zeros(len(features), np.int64)], times, mask)


@dataclass
class RLPick:
    """The frames picked on one video: the agent's greedy episode, or the preview
    heuristic's top frames where the bundle says the agent is the worse of the two
    (``chosen_by``, ``reason``), with the subset classifier's answer from them."""

    order: list[int]  # candidate positions in the order the agent looked
    frame_indices: list[int]  # the picked video frames, sorted
    candidate_indices: list[int]  # every candidate's video frame index
    probabilities: np.ndarray | None  # the subset classifier's (C,) after the last look (None: not asked)
    classes: list[str]
    top: list[tuple[str, float]]  # empty when nothing was looked at or the answer was not asked
    ms: float  # candidates + episode, wall time
    frames: np.ndarray | None = field(default=None, repr=False)  # uint8 (k, H, W, 3) picked frames, sorted
    chosen_by: str = AGENT  # AGENT, or the preview heuristic that picked instead (choose_sampler)
    reason: str = ""  # why, in one sentence
    metadata: Any = field(default=None, repr=False)  # the video's VideoMetadata (predict_on_picks reuses the frames)

    @property
    def label(self) -> str | None:
        return self.top[0][0] if self.top else None

    @property
    def confidence(self) -> float:
        return self.top[0][1] if self.top else 0.0


@dataclass
class RLFrameSampler:
    """Everything needed to replay a trained agent on a new video (see the module docstring)."""

    agent: Any  # helpers.rl.DQNAgent
    classifier: Any  # helpers.rl SubsetClassifier (FeatureHead or ModelHeadClassifier)
    projection: np.ndarray | None
    env_config: Any  # helpers.rl.EnvConfig
    encoder: str
    num_positions: int
    classes: list[str]
    resize: tuple[int, int] = (36, 48)
    crop: int = 32
    motion_gap: int = 2
    encoder_model: Any = None  # the model whose .vision encodes frames (encoder "model")
    feature_dim: int | None = None  # what the classifier was trained on (checked per video)
    path: Path | None = None
    name: str = "rl_sampler"
    comparison: dict[str, Any] | None = None  # held-out agent vs heuristic per setting (choose_sampler)
    fixed: SamplerChoice | None = None  # this choice for every clip (preview_sampler: no agent)

    def choice(self, has_audio: bool) -> SamplerChoice:
        """Which sampler :meth:`pick` uses for a clip with (or without) sound, and why."""
        if self.fixed is not None:
            return self.fixed
        return choose_sampler(self.comparison, has_audio, self.env_config.max_frames)

    def candidates(self, video: str | Path) -> tuple[Any, np.ndarray]:
        """A one-clip :class:`~helpers.rl.FeatureSet` of ``video`` with every candidate's
        features and the previews, and its candidate frames (what
        :func:`helpers.rl.extract_features` computes per clip). :meth:`pick` encodes only
        the candidates it looks at."""
        with open_candidates(video, self.num_positions, self.motion_gap) as clip:
            fs = self._feature_set(clip, *clip.sound(), clip.motion())
            frames, after = clip.frames(np.arange(self.num_positions), self._encoder_size)
        fs.features = self._encode(frames, after)[None]
        return fs, frames

    @property
    def _encoder_size(self) -> tuple[int, int] | None:
        """The size the encoder reads frames at: flow at their stored size, else ``resize``."""
        return None if self.encoder == "flow" else tuple(self.resize)

    def _feature_set(self, clip: "CandidateClip", audio_env: np.ndarray, has_audio: bool,
                     motion: np.ndarray) -> Any:
        """A one-clip FeatureSet of ``clip``'s candidates with these previews and zero
        features (``feature_dim`` values, or none when unknown), filled as looks need them."""
        from helpers.rl.features import FeatureSet

        n = len(clip.indices)
        zeros = np.zeros((1, n, int(self.feature_dim or 0)), np.float32)
        return FeatureSet(zeros, clip.times[None], clip.indices[None], np.zeros(1, np.int64), audio_env[None],
                          np.array([has_audio]), np.full((1, 2), -1, np.int64), [str(clip.path)], list(self.classes),
                          {"encoder": self.encoder}, motion[None])

    def _encode(self, frames: np.ndarray, after: np.ndarray) -> np.ndarray:
        """(k, F) float32 features of ``k`` candidate frames and their motion partners."""
        from helpers.datasets import ClipTransform
        from helpers.rl.features import flow_features, pixel_motion_features

        if self.encoder == "flow":
            feats = flow_features(frames, after)
        elif self.encoder == "pixels":
            feats = pixel_motion_features(frames, after)
        else:
            transform = ClipTransform(resize=tuple(self.resize), crop=(self.crop, self.crop))
            with torch.no_grad():
                feats = self.encoder_model.vision(transform(frames).unsqueeze(0))[0].float().numpy()
        feats = np.asarray(feats, np.float32)
        if self.feature_dim is not None and feats.shape[-1] != self.feature_dim:
            raise RLSamplerError(f"{self.encoder} features of this video have {feats.shape[-1]} values, the "
                                 f"sampler was trained on {self.feature_dim}")
        return feats

    def pick(self, video: str | Path, top_k: int = 5, answer: bool = True) -> RLPick:
        """The agent's greedy episode on ``video`` (at most the bundle's frame cap for the
        clip's setting, see :func:`choose_sampler`), or the preview heuristic's top frames
        where :meth:`choice` says the agent is the worse of the two; with ``answer`` the
        classifier answers from the picks either way (raises the reader's errors for bad
        files).

        What is read follows what the chosen sampler needs: the agent and the motion
        heuristic a pass of grey thumbnails for the motion preview (and the sound where
        there is one); the audio heuristic the sound only; uniform sampling nothing. A
        candidate is decoded at the encoder's size and encoded when a look first needs it,
        so the cost grows with the frames looked at, not with the candidates; the picked
        frames are decoded at their stored size, for a model to answer from
        (:func:`predict_with_sampler`). ``answer=False`` (that model answers): the same
        picks without the classifier's own answer, so the last look (and a heuristic's
        looks) encode nothing."""
        from helpers.rl.baselines import energy_positions, sampler_positions, uniform_positions
        from helpers.rl.env import FrameSamplingEnv
        from helpers.rl.trainer import run_policy

        t0 = time.perf_counter()
        with open_candidates(video, self.num_positions, self.motion_gap) as clip:
            meta = clip.metadata
            choice = self.choice(bool(meta.has_audio))
            n = self.num_positions
            budget = min(int(choice.budget or 1), n)
            audio_only = choice.heuristic == "audio" or (choice.heuristic == "heuristic" and meta.has_audio)
            quiet = np.zeros(n, np.float32)
            order: list[int] | None = None  # the agent's and the motion heuristic's need the previews first
            if choice.heuristic == "uniform":  # needs no preview
                fs = self._feature_set(clip, quiet, False, quiet)
                order = [int(p) for p in uniform_positions(n, budget)]
            elif audio_only:  # needs the sound only
                fs = self._feature_set(clip, *clip.sound(), quiet)
                order = [int(p) for p in energy_positions(fs.audio_env[0], budget)]  # all quiet: uniform
            else:
                fs = self._feature_set(clip, *clip.sound(), clip.motion())

            def encode(positions: np.ndarray) -> np.ndarray:
                return self._encode(*clip.frames(positions, self._encoder_size))

            if self.feature_dim is None:  # a bundle that does not record it: encode everything
                fs.features = encode(np.arange(n))[None]
            looks = EncodeOnLook(self.classifier, fs, encode)
            env = FrameSamplingEnv(fs, looks, self.env_config, self.projection)
            if order is None and choice.heuristic is None:
                with torch.no_grad():
                    order, _ = run_policy(self.agent, env, 0, max_frames=choice.budget, answer=answer)
            elif order is None:
                order = [int(p) for p in sampler_positions(choice.heuristic, fs, budget)[0]]
            probs = np.asarray(env.subset_probs(0, order), np.float64) if answer and order else None
            picked = sorted(order)
            frames = clip.frames(np.asarray(picked, np.int64), None, partners=False)[0] if picked else None
        k = max(1, min(int(top_k), len(self.classes)))
        top = [] if probs is None else [(self.classes[i], float(probs[i]))
                                        for i in np.argsort(-probs, kind="stable")[:k]]
        cand = clip.indices
        return RLPick(order=[int(o) for o in order], frame_indices=[int(cand[o]) for o in picked],
                      candidate_indices=[int(c) for c in cand], probabilities=probs, classes=list(self.classes),
                      top=top, ms=(time.perf_counter() - t0) * 1e3, frames=frames,
                      chosen_by=choice.chosen_by, reason=choice.reason, metadata=meta)


@dataclass
class CandidateClip:
    """One open video's candidate frames (``num_positions`` uniform ones, each with its
    motion partner ``motion_gap`` frames later), read as a sampler needs them: the sound's
    envelope and the motion preview's grey thumbnails once each, frames per position at a
    size (kept, so a frame decoded for a look is not decoded again for the model)."""

    path: Path
    reader: Any
    indices: np.ndarray  # (N,) video frame index of each candidate
    partners: np.ndarray  # (N,) its motion partner's
    times: np.ndarray  # (N,) seconds
    _heard: tuple[np.ndarray, bool] | None = None
    _decoded: dict[tuple[int, Any], np.ndarray] = field(default_factory=dict)

    @property
    def metadata(self) -> Any:
        return self.reader.metadata

    def sound(self) -> tuple[np.ndarray, bool]:
        """The audio envelope at the candidates and whether the file has sound (read once)."""
        from helpers.rl.features import audio_envelope

        if self._heard is None:
            meta = self.metadata
            fps = float(meta.fps or 25.0)
            self._heard = (audio_envelope(self.path, self.times, float(meta.duration or 0.0) or meta.num_frames / fps)
                           if meta.has_audio else (np.zeros(len(self.indices), np.float32), False))
        return self._heard

    def motion(self) -> np.ndarray:
        """The motion preview of the candidates, from one pass of grey thumbnails."""
        from helpers.rl.features import motion_energy, preview_thumbnails

        return motion_energy(*preview_thumbnails(self.reader, self.indices, self.partners))

    def frames(self, positions: np.ndarray, size: tuple[int, int] | None,
               partners: bool = True) -> tuple[np.ndarray, np.ndarray | None]:
        """RGB frames (``size``: ``(H, W)``, None as stored) of the candidates at
        ``positions`` and, with ``partners``, of their motion partners (else None).
        Frames already read at that size are not decoded again."""
        positions = np.asarray(positions, np.int64)
        chosen = self.indices[positions]
        wanted = np.unique(np.concatenate([chosen, self.partners[positions]]) if partners else chosen)
        todo = [int(f) for f in wanted if (int(f), size) not in self._decoded]
        if todo:
            for f, frame in zip(todo, self.reader.frames(todo, size=size)):
                self._decoded[(f, size)] = frame

        def stacked(frame_indices: np.ndarray) -> np.ndarray:
            return np.stack([self._decoded[(int(f), size)] for f in frame_indices])

        return stacked(chosen), stacked(self.partners[positions]) if partners else None


@contextmanager
def open_candidates(video: str | Path, num_positions: int, motion_gap: int) -> Iterator[CandidateClip]:
    """``video`` open as a :class:`CandidateClip`: ``num_positions`` uniform candidates
    and their partners ``motion_gap`` frames later (what :func:`helpers.rl.extract_features`
    samples), closed on leaving."""
    from helpers.video import open_video
    from helpers.video.sampling import uniform_indices

    with open_video(video) as reader:
        n = int(reader.metadata.num_frames)
        idx = uniform_indices(n, int(num_positions)).astype(np.int64)
        yield CandidateClip(Path(video), reader, idx, np.minimum(idx + int(motion_gap), n - 1),
                            (idx / float(reader.metadata.fps or 25.0)).astype(np.float32))


def clip_indices(picked: list[int], num_frames: int) -> np.ndarray:
    """``num_frames`` video frame indices made of the picked frames only (each repeated
    about equally, in time order): how a fixed-length clip model sees "those frames"."""
    picked = sorted(int(i) for i in picked)
    if not picked:
        raise ValueError("no frames were picked")
    pos = np.floor(np.arange(num_frames) * len(picked) / num_frames).astype(np.int64)
    return np.asarray(picked, np.int64)[pos]


def on_frames(predictor: Any, frames: Any, name: str) -> Any:
    """A shallow copy of ``predictor`` that reads ``frames`` (video frame indices, or a
    callable of the video's frame count that gives them) instead of its uniform clip.

    A model that takes any number of frames at their times (the multi-modal model: a
    per-frame encoder, then attention over frame times) gets exactly those frames, so
    fewer frames cost less; a fixed-length clip model gets them repeated to its clip
    length (:func:`clip_indices`)."""
    import copy

    pick = frames if callable(frames) else (lambda _n, fixed=tuple(int(f) for f in frames): fixed)
    p = copy.copy(predictor)  # not dataclasses.replace: no second __post_init__
    if getattr(predictor, "is_multimodal", False):
        p.sampler = lambda n, _t: np.asarray(sorted(int(i) for i in pick(n)), np.int64)
    else:
        p.sampler = lambda n, t: clip_indices(list(pick(n)), t)
    p.sampler_name = name
    return p


def preview_sampler(classes: list[str], budget: int = 1, num_positions: int = 32,
                    motion_gap: int = 2) -> RLFrameSampler:
    """A sampler with nothing trained: each clip's ``budget`` frames are the preview
    heuristic's top candidates (audio energy where the clip has sound, motion energy on
    grey thumbnails where it is silent; SCSampler's idea without learning), which is what
    a saved sampler runs where its agent scored below that heuristic. ``classes``: the
    model's, for the pick's record. Times that path on any machine without notebook 05's
    file (``benchmarks/gpu_check.py``)."""
    from helpers.rl.env import EnvConfig

    if budget < 1 or budget > num_positions:
        raise ValueError(f"budget {budget}: pick 1…{num_positions} of the {num_positions} candidates")
    why = f"the preview heuristic's top {budget} of {num_positions} candidates, nothing trained"
    return RLFrameSampler(agent=None, classifier=None, projection=None, env_config=EnvConfig(max_frames=budget),
                          encoder="flow", num_positions=int(num_positions), classes=list(classes),
                          motion_gap=int(motion_gap), feature_dim=0, name="preview_heuristic",
                          fixed=SamplerChoice("heuristic: audio or motion energy", why, heuristic="heuristic",
                                              budget=int(budget)))


def predict_on_picks(video: str | Path, predictor: Any, pick: RLPick, top_k: int = 5, name: str = "rl") -> Any:
    """The predictor's :class:`~helpers.inference.Prediction` from the picked frames only
    (:func:`on_frames`): same model and runtime, only the frames differ. The frames the
    pick decoded are reused (:func:`~helpers.inference.predict.predict_decoded`: the file is
    not decoded twice); a pick without them is read again by ``predict_video``. Shared by
    the widget and ``python -m helpers predict --rl-sampler``."""
    from helpers.inference.predict import predict_decoded, predict_video

    on_picks = on_frames(predictor, pick.frame_indices, pick_label(pick, name))
    if pick.frames is not None and pick.metadata is not None:
        return predict_decoded(video, pick.frames, pick.frame_indices, pick.metadata, on_picks, top_k=top_k,
                               keep_frames=False)
    return predict_video(video, model=on_picks, top_k=top_k, keep_frames=False)


def resolve_rl_sampler(spec: Any) -> RLFrameSampler:
    """``spec`` as a sampler: an :class:`RLFrameSampler` as it is, ``"rl"``/``"auto"`` the
    newest one notebook 05 saved (:func:`find_rl_sampler`), else a path to a bundle.
    Loaded bundles are kept (by path and modification time), so calls on many videos
    load the file once. Raises :class:`RLSamplerError` naming what to do when none is
    saved or the file cannot be used."""
    if isinstance(spec, RLFrameSampler):
        return spec
    path = find_rl_sampler() if str(spec) in ("rl", "auto") else Path(spec)
    if path is None:
        raise RLSamplerError(f"no RL frame sampler: {NONE_SAVED}")
    if not path.is_file():
        raise RLSamplerError(f"{path}: no such RL frame sampler file")
    key = (str(path.resolve()), path.stat().st_mtime_ns)
    if key not in _LOADED:
        _LOADED.clear()
        _LOADED[key] = load_rl_sampler(path)
    return _LOADED[key]


_LOADED: dict[tuple[str, int], RLFrameSampler] = {}


def predict_with_sampler(video: str | Path, predictor: Any, sampler: Any = "rl", top_k: int = 5,
                         with_sound: Any = None) -> Any:
    """``predict_video(video, predictor, sampler=…)``: the RL sampler picks the frames
    (:meth:`RLFrameSampler.pick` without its classifier's own answer: the model answers),
    then the predictor (``with_sound`` instead for a clip with sound, as
    :func:`~helpers.inference.predict.model_for_clip` says) answers from those frames
    only, reusing the decoded frames. Raises :class:`~helpers.inference.InferenceError`
    for a file that cannot be read, or when the sampler looked at nothing."""
    from helpers.inference.predict import model_for_clip
    from helpers.inference.types import InferenceError
    from helpers.video import VideoDecodeError

    s = resolve_rl_sampler(sampler)
    try:
        pick = s.pick(video, top_k=top_k, answer=False)
    except VideoDecodeError as exc:
        raise InferenceError(video, f"cannot read this video ({exc.reason})") from None
    if not pick.frame_indices:
        raise InferenceError(video, "the RL sampler stopped without looking at any frame; use sampler='uniform'")
    chosen, _ = model_for_clip(bool(getattr(pick.metadata, "has_audio", False)), predictor, with_sound)
    return predict_on_picks(video, chosen, pick, top_k, s.name)


def pick_label(pick: RLPick, name: str = "rl") -> str:
    """How a prediction from ``pick``'s frames names its sampler: the bundle, which
    sampler chose the frames and why (the agent may have deferred to the heuristic)."""
    return f"rl ({name}, {pick.chosen_by}: {pick.reason})" if pick.reason else f"rl ({name}, {pick.chosen_by})"


# ------------------------------------------------------------------ save / load
def _classifier_state(classifier: Any) -> dict[str, Any]:
    from helpers.rl.classifier import FeatureHead, ModelHeadClassifier

    if isinstance(classifier, FeatureHead):
        layer = classifier.body.layers[0]
        return {"kind": "feature_head", "feature_dim": int(classifier.proj.in_features),
                "num_classes": int(classifier.num_classes), "dim": int(classifier.proj.out_features),
                "heads": int(layer.self_attn.num_heads), "state": classifier.state_dict()}
    if isinstance(classifier, ModelHeadClassifier):
        return {"kind": "model_head", "state": classifier.model.state_dict()}
    raise RLSamplerError(f"cannot save a {type(classifier).__name__} classifier (FeatureHead or ModelHeadClassifier)")


def save_rl_sampler(path: str | Path, agent: Any, classifier: Any, *, projection: np.ndarray | None,
                    env_config: Any, encoder: str, num_positions: int, classes: list[str],
                    feature_dim: int, checkpoint: str | Path | None = None, resize: tuple[int, int] = (36, 48),
                    crop: int = 32, motion_gap: int = 2, extra: dict[str, Any] | None = None,
                    comparison: dict[str, Any] | None = None) -> Path:
    """Write the bundle (atomic, through ``DQNAgent.save``). ``checkpoint``: the trained
    model the features or the classifier come from (needed for ``encoder="model"`` and a
    model-head classifier). ``comparison``: the held-out agent vs heuristic figures per
    setting (:meth:`helpers.rl.RLPipeline.heuristic_comparison`) that :func:`choose_sampler` reads."""
    if encoder not in ENCODERS:
        raise ValueError(f"encoder must be one of {ENCODERS}, got {encoder!r}")
    clf = _classifier_state(classifier)
    if (encoder == "model" or clf["kind"] == "model_head") and checkpoint is None:
        raise ValueError("a model encoder or model-head classifier needs the checkpoint it came from")
    sampler = {"version": 1, "encoder": encoder, "num_positions": int(num_positions), "classes": list(classes),
               "feature_dim": int(feature_dim), "resize": [int(v) for v in resize], "crop": int(crop),
               "motion_gap": int(motion_gap), "env_config": env_config.to_dict(), "classifier": clf,
               "projection": None if projection is None else torch.as_tensor(np.asarray(projection, np.float32)),
               "checkpoint": None if checkpoint is None else str(checkpoint)}
    if comparison is not None:
        sampler["comparison"] = comparison
    return agent.save(path, extra={**(extra or {}), "env_config": env_config.to_dict(), "sampler": sampler})


def save_pipeline_sampler(path: str | Path, pipe: Any, extra: dict[str, Any] | None = None) -> Path:
    """:func:`save_rl_sampler` for a :class:`helpers.rl.RLPipeline` (notebook 05's result),
    with the held-out comparison with the preview heuristic it measured: the saved agent's
    own figures on clips with sound and silent, on the validation clips where the pipeline
    evaluated them (``pipe.validation``), else on the test clips. The environment config
    is the test one (no audio dropout: a replayed clip keeps its sound)."""
    fs = pipe.train
    return save_rl_sampler(path, pipe.agent, pipe.classifier, projection=pipe.env.projection,
                           env_config=pipe.test_env.config, encoder=str(fs.meta.get("encoder", "model")),
                           num_positions=fs.num_positions, classes=list(fs.classes), feature_dim=fs.feature_dim,
                           checkpoint=pipe.config.checkpoint, resize=tuple(fs.meta.get("resize", (36, 48))),
                           crop=int(fs.meta.get("crop", 32)), comparison=pipe.heuristic_comparison(),
                           extra={"history": pipe.history.to_dict(), "summary": pipe.summary(), **(extra or {})})


def load_rl_sampler(path: str | Path) -> RLFrameSampler:
    """The sampler saved at ``path``; :class:`RLSamplerError` (in words) when the file is
    not an agent, or an agent saved without its classifier."""
    from helpers.rl.agent import DQNAgent
    from helpers.rl.classifier import FeatureHead, ModelHeadClassifier
    from helpers.rl.env import EnvConfig

    path = Path(path)
    try:
        agent = DQNAgent.load(path)
    except (FileNotFoundError, ValueError, KeyError, TypeError) as exc:
        raise RLSamplerError(f"{path}: not an RL agent file ({exc})"[:300]) from None
    s = getattr(agent, "extra", {}).get("sampler")
    if not s:
        raise RLSamplerError(f"{path}: this agent was saved without its classifier and feature settings, so it "
                             "cannot be replayed on a new video; save it with "
                             "helpers.inference.rl_sampler.save_pipeline_sampler(path, pipe) in notebook 05")
    clf_state = s["classifier"]
    encoder_model = None
    if s["encoder"] == "model" or clf_state["kind"] == "model_head":
        from helpers.training.checkpoint import load_checkpoint
        from helpers.training.experiment import model_from_checkpoint

        ck = Path(s["checkpoint"] or "")
        if not ck.is_file():
            raise RLSamplerError(f"{path}: needs the trained model {ck} (notebook 04), which is missing")
        encoder_model = model_from_checkpoint(load_checkpoint(ck, mmap=True)).eval()
    if clf_state["kind"] == "feature_head":
        head = FeatureHead(clf_state["feature_dim"], clf_state["num_classes"], clf_state["dim"], clf_state["heads"])
        head.load_state_dict(clf_state["state"])
        classifier = head.eval()
    else:
        encoder_model.load_state_dict(clf_state["state"])  # the fine-tuned head; the frame encoder is unchanged
        classifier = ModelHeadClassifier(encoder_model)
    projection = s.get("projection")
    sampler = RLFrameSampler(agent=agent, classifier=classifier,
                             projection=None if projection is None else projection.numpy(),
                             # an agent saved before the motion preview observed without it
                             env_config=EnvConfig(**{"use_motion": False, **s["env_config"]}), encoder=s["encoder"],
                             num_positions=int(s["num_positions"]), classes=list(s["classes"]),
                             resize=tuple(s["resize"]), crop=int(s["crop"]), motion_gap=int(s["motion_gap"]),
                             encoder_model=encoder_model, feature_dim=int(s["feature_dim"]), path=path,
                             name=path.stem, comparison=s.get("comparison"))
    return sampler


NONE_SAVED = "none saved (notebooks/05_rl_frame_sampling.ipynb saves one)"


def locate_rl_sampler(spec: str | Path) -> Path | None:
    """``"auto"``: the newest saved sampler (:func:`find_rl_sampler`, None when there is
    none, then say :data:`NONE_SAVED`); anything else: that path."""
    return find_rl_sampler() if str(spec) == "auto" else Path(spec)


def find_rl_sampler(*folders: str | Path) -> Path | None:
    """The newest ``rl_frame_sampler*.pt`` in ``folders`` (default: the settings' models
    folder, then ``<cache>/rl`` where notebook 05 saves in smoke mode), or None."""
    if not folders:
        from helpers.settings import get_settings

        s = get_settings()
        folders = (s.models_dir, s.cache_dir / "rl")
    found = [p for f in folders if Path(f).is_dir() for p in Path(f).glob(SAMPLER_GLOB) if p.is_file()]
    return max(found, key=lambda p: p.stat().st_mtime_ns) if found else None
