"""``predict_video``: file → ranked actions with probabilities, the frames the model
looked at, and where the time went (decode vs preprocessing vs model).

Preprocessing is the evaluation path of the datasets (uniform frames over the whole
video, decoded straight to the training resize, centre crop, Kinetics normalisation:
:class:`helpers.datasets.ClipTransform`), so a prediction matches what validation saw.
``clips > 1`` averages the softmax over several evenly spaced clips, as torchvision's
video-classification reference does at test time.
"""
from __future__ import annotations

import time
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np
import torch
from torch import nn

from helpers.inference.predictor import InferenceError, Predictor, load_predictor

SAMPLE_RATE = 16000
MAX_AUDIO_SECONDS = 10.0


@dataclass
class Prediction:
    """One video's result. ``top`` is ``[(class_name, probability), …]`` best first."""

    path: str
    top: list[tuple[str, float]]
    label: str
    confidence: float
    probabilities: np.ndarray  # (num_classes,)
    frame_indices: list[int]  # per clip, flattened in clip order
    frame_times: list[float]
    num_video_frames: int
    fps: float
    clips: int
    crops: int
    sampler: str
    model_name: str
    decode_ms: float  # the frames, and the sound read beside them for a multi-modal model
    preprocess_ms: float
    model_ms: float
    total_ms: float
    metadata: dict[str, Any] = field(default_factory=dict)
    frames: np.ndarray | None = field(default=None, repr=False)  # uint8 (T, H, W, 3) decoded frames
    view_probabilities: np.ndarray | None = field(default=None, repr=False)  # (clips * crops, C)
    runtime: str = "torch"  # what ran the model: "torch" or "onnxruntime"
    caption: str | None = None  # multi-modal model with a caption decoder: its greedy caption (first view)
    sync_score: float | None = None  # multi-modal model: P(audio and video in sync), mean over views

    def to_dict(self, frames: bool = False) -> dict[str, Any]:
        """JSON-ready (``frames`` and the full probability vector left out unless asked)."""
        d = asdict(self)
        d.pop("frames")
        d.pop("view_probabilities")
        d["probabilities"] = [round(float(p), 6) for p in self.probabilities]
        d["top"] = [{"label": name, "probability": round(p, 6)} for name, p in self.top]
        if frames and self.frames is not None:
            d["frames_shape"] = list(self.frames.shape)
        return d


def _as_predictor(model: Predictor | nn.Module | str | Path | None, class_names: list[str] | None) -> Predictor:
    if isinstance(model, Predictor):
        return model
    if model is None or isinstance(model, (str, Path)):
        return load_predictor(model)
    if callable(model):
        if not class_names:
            raise ValueError("class_names are needed with a bare nn.Module (or pass a Predictor)")
        from helpers.inference.predictor import predictor_from_model

        params = list(model.parameters()) if isinstance(model, nn.Module) else []
        device = str(params[0].device) if params else "cpu"
        return predictor_from_model(model, class_names, device=device)
    raise TypeError(f"model must be a Predictor, an nn.Module or a checkpoint path, got {type(model).__name__}")


def _indices(p: Predictor, num_video_frames: int, clips: int) -> np.ndarray:
    """(clips, T) frame indices: the predictor's sampler, else uniform (one clip) or
    evenly spaced consecutive windows (several clips)."""
    from helpers.video.sampling import multi_clip_indices, uniform_indices

    if p.sampler is not None:
        return np.asarray(p.sampler(num_video_frames, p.num_frames), dtype=np.int64).reshape(1, -1)
    if clips <= 1:
        return uniform_indices(num_video_frames, p.num_frames).reshape(1, -1)
    # stride so that the clips together cover the video, as uniform sampling does
    stride = max(1, num_video_frames // (p.num_frames * clips))
    return multi_clip_indices(num_video_frames, p.num_frames, clips, stride)


def reads_mel(model: Any) -> bool:
    """Whether ``model`` reads the log-mel spectrogram: every multi-modal model except one
    whose audio encoder takes the raw waveform (wav2vec2), which ignores ``audio_mel``,
    and one without an audio encoder (``audio="none"``), which reads no sound at all."""
    return getattr(getattr(model, "config", None), "audio", "logmel") not in ("wav2vec2", "none")


def reads_sound(model: Any) -> bool:
    """Whether ``model`` reads the sound at all: not one built without an audio encoder."""
    return getattr(getattr(model, "config", None), "audio", "logmel") != "none"


def _audio_inputs(path: str, indices: np.ndarray, fps: float, duration: float, has_audio: bool,
                  mel: bool = True) -> dict[str, torch.Tensor]:
    """The waveform window the clip's frames span (16 kHz, up to 10 s), its log-mel when
    ``mel`` (the model reads it), and whether the file had sound. Callers pass
    ``has_audio`` False for a model that reads no sound (:func:`reads_sound`): nothing
    is read then."""
    from helpers.datasets.base import audio_window, fit_length
    from helpers.video.audio import log_mel, read_audio

    seconds = min(max(duration, 1.0), MAX_AUDIO_SECONDS)
    n = int(round(seconds * SAMPLE_RATE))
    wave, present = np.zeros(n, np.float32), False
    if has_audio:
        start, end = audio_window(indices, fps, duration, seconds)
        wave, present = read_audio(path, start, end, sample_rate=SAMPLE_RATE)
        wave = fit_length(wave, n)
    out = {"audio": torch.from_numpy(wave)[None], "audio_mask": torch.tensor([bool(present)])}
    if mel:
        out["audio_mel"] = torch.from_numpy(np.asarray(log_mel(wave, sample_rate=SAMPLE_RATE), np.float32))[None]
    return out


def predict_video(path: str | Path, model: Predictor | nn.Module | str | Path | None = None, top_k: int = 5, *,
                  class_names: list[str] | None = None, clips: int = 1, crops: int = 1, keep_frames: bool = True,
                  backend: str = "auto", with_sound: Predictor | None = None, sampler: Any = "uniform") -> Prediction:
    """Classify the action in ``path`` (any container/codec :func:`helpers.video.open_video`
    reads). ``model``: a :class:`Predictor`, a checkpoint path, None (the default
    checkpoint) or an ``nn.Module`` with ``class_names``. ``clips``/``crops`` (1 or 3):
    views whose softmax is averaged (torchvision reference: 5 clips; 3 crops optional).
    ``with_sound``: a multi-modal predictor that answers instead of ``model`` when the
    container has an audio stream (read from the header this call opens anyway;
    ``Prediction.model_name`` says which answered, :func:`model_for_clip` says why).
    ``sampler``: ``"uniform"`` (the predictor's own frames), or ``"rl"`` (the RL frame
    sampler notebook 05 saved), a bundle path or an ``RLFrameSampler``: the model then
    answers from the frames the sampler picked
    (:func:`helpers.inference.rl_sampler.predict_with_sampler`; ``Prediction.sampler``
    names it; ``clips``/``crops`` apply to uniform sampling only). A missing or unusable
    sampler raises :class:`~helpers.inference.rl_sampler.RLSamplerError`.

    Raises :class:`InferenceError` (path + reason) for a missing, empty, corrupt or
    non-video file; :class:`~helpers.inference.NoCheckpointError` when no model is there.
    """
    from helpers.video import VideoDecodeError, open_video

    if crops not in (1, 3):
        raise ValueError(f"crops must be 1 or 3, got {crops}")
    p = _as_predictor(model, class_names)
    if not (isinstance(sampler, str) and sampler == "uniform"):
        from helpers.inference.rl_sampler import predict_with_sampler

        return predict_with_sampler(path, p, sampler, top_k=top_k, with_sound=with_sound)
    path = Path(path)
    t0 = time.perf_counter()
    audio_job: Future | None = None
    with ThreadPoolExecutor(1) as audio_reader:
        try:
            with open_video(path, backend=backend) as reader:
                meta = reader.metadata
                if meta.num_frames < 1:
                    raise InferenceError(path, "the video has no frames")
                if with_sound is not None and meta.has_audio:
                    p = with_sound
                idx = _indices(p, int(meta.num_frames), clips)
                fps = float(meta.fps or 0.0) or 25.0
                if p.is_multimodal:  # the sound is read beside the frames: both decoders release the GIL
                    duration = float(meta.duration or 0.0) or meta.num_frames / fps
                    audio_job = audio_reader.submit(_audio_inputs, str(path), idx.reshape(-1), fps, duration,
                                                    bool(meta.has_audio) and reads_sound(p.model),
                                                    mel=reads_mel(p.model))
                frames = reader.frames(idx.reshape(-1).tolist(), size=p.resize)
        except VideoDecodeError as exc:
            raise InferenceError(path, f"cannot read this video ({exc.reason})") from None
        audio = audio_job.result() if audio_job is not None else None
    return _answer(p, path, frames, idx, meta, audio, crops=crops, top_k=top_k, keep_frames=keep_frames, t0=t0)


def predict_decoded(path: str | Path, frames: np.ndarray, frame_indices: Sequence[int], metadata: Any,
                    model: Predictor | nn.Module | str | Path | None = None, top_k: int = 5, *,
                    class_names: list[str] | None = None, keep_frames: bool = True) -> Prediction:
    """:func:`predict_video`'s answer from frames a caller has already decoded (uint8
    ``(T, H, W, 3)`` at ``frame_indices`` of ``path``, any size: they are resized to the
    predictor's): a sampler that decoded frames to choose them does not open and decode
    the file again. ``metadata``: the reader's :class:`~helpers.video.VideoMetadata`. A
    multi-modal predictor still reads the sound of those frames' window from ``path``.
    ``decode_ms`` is then that audio read only."""
    p = _as_predictor(model, class_names)
    t0 = time.perf_counter()
    idx = np.asarray(frame_indices, np.int64).reshape(1, -1)
    frames = np.asarray(frames)
    if len(frames) != idx.shape[1] or not len(frames):
        raise ValueError(f"{len(frames)} frames for {idx.shape[1]} frame indices")
    if not p.is_multimodal and idx.shape[1] != p.num_frames:  # a fixed-length clip model: each frame repeated
        pos = np.floor(np.arange(p.num_frames) * idx.shape[1] / p.num_frames).astype(np.int64)
        frames, idx = frames[pos], idx[:, pos]
    audio = None
    if p.is_multimodal:
        fps = float(metadata.fps or 0.0) or 25.0
        duration = float(metadata.duration or 0.0) or metadata.num_frames / fps
        audio = _audio_inputs(str(path), idx.reshape(-1), fps, duration,
                              bool(metadata.has_audio) and reads_sound(p.model), mel=reads_mel(p.model))
    return _answer(p, Path(path), frames, idx, metadata, audio, crops=1, top_k=top_k,
                   keep_frames=keep_frames, t0=t0)


def _answer(p: Predictor, path: Path, frames: np.ndarray, idx: np.ndarray, meta: Any,
            audio: dict[str, torch.Tensor] | None, *, crops: int, top_k: int, keep_frames: bool,
            t0: float) -> Prediction:
    """Preprocess the decoded ``frames`` (``idx``: (clips, T) their indices), run the
    model, and the :class:`Prediction` (times measured from ``t0``)."""
    from helpers.datasets import ClipTransform, three_crop

    t1 = time.perf_counter()
    fps = float(meta.fps or 0.0) or 25.0
    transform = ClipTransform(resize=p.resize, crop=(p.crop, p.crop))
    n_clips, t_len = idx.shape
    parts = [frames[i * t_len:(i + 1) * t_len] for i in range(n_clips)]
    if crops == 3:
        video = torch.cat([three_crop(f, p.resize, p.crop) for f in parts])  # (clips*3, C, T, h, w)
    else:
        video = torch.stack([transform(f) for f in parts])
    views = int(video.shape[0])
    inputs: dict[str, torch.Tensor] = {"video": video}
    if p.is_multimodal:
        inputs["frame_times"] = torch.from_numpy((np.repeat(idx, crops, axis=0) / fps).astype(np.float32))
        inputs.update({k: v.expand(views, *v.shape[1:]) for k, v in audio.items()})
    inputs = {k: v.to(p.device) for k, v in inputs.items()}
    t2 = time.perf_counter()
    view_probs, out = _forward(p, inputs)
    probs = view_probs.mean(0)
    caption, sync = _multimodal_extras(p, out) if p.is_multimodal else (None, None)
    t3 = time.perf_counter()
    k = max(1, min(int(top_k), len(p.class_names)))
    order = np.argsort(-probs, kind="stable")[:k]
    top = [(p.class_names[i], float(probs[i])) for i in order]
    return Prediction(
        path=str(path), top=top, label=top[0][0], confidence=top[0][1], probabilities=probs,
        frame_indices=[int(i) for i in idx.reshape(-1)],
        frame_times=[round(float(i) / fps, 4) for i in idx.reshape(-1)],
        num_video_frames=int(meta.num_frames), fps=fps, clips=n_clips, crops=crops, sampler=p.sampler_name, model_name=p.name,
        decode_ms=(t1 - t0) * 1e3, preprocess_ms=(t2 - t1) * 1e3, model_ms=(t3 - t2) * 1e3,
        total_ms=(t3 - t0) * 1e3, metadata=meta.to_dict(), frames=np.asarray(frames) if keep_frames else None,
        view_probabilities=view_probs, runtime=p.runtime, caption=caption, sync_score=sync,
    )


@torch.inference_mode()
def _forward(p: Predictor, inputs: dict[str, torch.Tensor]) -> tuple[np.ndarray, Any]:
    """Softmax per view (clip × crop), float64 (views, C) on the CPU, and the raw output."""
    out = p.model(**inputs)
    logits = out["logits"] if isinstance(out, dict) else getattr(out, "logits", out)
    if p.device.startswith("cuda"):
        torch.cuda.synchronize(p.device)
    return torch.softmax(logits.float(), dim=-1).double().cpu().numpy(), out


def readable_reason(text: str, limit: int = 300) -> str:
    """An error's text for a person: the working directory shortened to ``.``, at most
    ``limit`` characters."""
    return str(text).replace(str(Path.cwd()), ".")[:limit]


def model_for_clip(has_audio: bool, predictor: Any, with_sound: Any = None) -> tuple[Any, str]:
    """Which predictor answers a clip, and the sentence that says why.

    ``with_sound`` (a multi-modal predictor, optional) answers clips with sound: it hears
    them and writes a caption. A silent clip goes to ``predictor``; when that one is
    multi-modal too, its audio branch hears silence, and the sentence says so."""
    if has_audio and with_sound is not None:
        return with_sound, "the clip has sound: the multi-modal model answered"
    if not has_audio and getattr(predictor, "is_multimodal", False):
        return predictor, ("the clip is silent: the multi-modal model heard silence, so its answer rests on "
                           "the picture alone")
    if not has_audio and with_sound is not None:
        return predictor, "the clip is silent: the video-only model answered (the multi-modal one needs sound)"
    return predictor, ""


def sound_predictor(spec: Any, predictor: Predictor, notes: list[str]) -> Predictor | None:
    """The multi-modal predictor that answers clips with sound beside ``predictor``, or None;
    one line for ``notes`` says which (or why none).

    ``spec``: ``"auto"`` (the multi-modal model notebook 04 trained,
    ``default_checkpoint("multimodal")``, when it exists and ``predictor`` is video-only),
    a path, a :class:`Predictor`, or None (``predictor`` answers every clip)."""
    from helpers.inference.predictor import default_checkpoint

    if spec is None or (spec == "auto" and predictor.is_multimodal):
        return None
    if isinstance(spec, Predictor):
        sound = spec
    else:
        path = default_checkpoint("multimodal") if spec == "auto" else Path(spec)
        if not path.is_file():
            if spec != "auto":
                notes.append(f"no multi-modal model at {path}: {predictor.name} answers clips with sound too")
            return None
        try:
            sound = load_predictor(path, runtime="torch")
        except InferenceError as exc:
            notes.append(f"multi-modal model not used: {readable_reason(str(exc))}")
            return None
    if not sound.is_multimodal:
        notes.append(f"{sound.name} hears nothing (video-only): {predictor.name} answers every clip")
        return None
    notes.append(f"clips with sound: {sound.name} (answer, caption, sync)")
    return sound


def _forward_probs(p: Predictor, inputs: dict[str, torch.Tensor]) -> np.ndarray:
    return _forward(p, inputs)[0]


@torch.inference_mode()
def _multimodal_extras(p: Predictor, out: Any) -> tuple[str | None, float | None]:
    """The multi-modal model's caption (greedy, first view; None without a decoder) and
    audio-video sync probability, both from the forward output already computed."""
    if not isinstance(out, dict):
        return None, None
    sync = out.get("sync_logits")
    score = None if sync is None else round(float(torch.sigmoid(sync.float()).mean()), 6)
    caption = None
    if getattr(p.model, "caption", None) is not None and out.get("memory") is not None:
        first = {"memory": out["memory"][:1], "memory_mask": out["memory_mask"][:1]}
        caption = p.model.captions_from(first)[0]
    return caption, score


def predict_frames(frames: np.ndarray, model: Predictor, top_k: int = 5) -> list[tuple[str, float]]:
    """Rank the classes for already decoded uint8 ``(T, H, W, 3)`` frames (video models
    only): for tests and for callers that decode themselves."""
    from helpers.datasets import ClipTransform

    video = ClipTransform(resize=model.resize, crop=(model.crop, model.crop))(frames)[None].to(model.device)
    probs = _forward_probs(model, {"video": video}).mean(0)
    order = np.argsort(-probs, kind="stable")[: max(1, min(top_k, len(model.class_names)))]
    return [(model.class_names[i], float(probs[i])) for i in order]
