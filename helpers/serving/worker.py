"""One worker's model: the checkpoint loaded once, its runtime variants, and the
prediction of one saved upload as JSON-ready data.

The prediction is :func:`helpers.inference.predict_video` (and, for ``sampler="rl"``,
:func:`helpers.inference.rl_sampler.predict_on_picks`), the same calls the widget and
``python -m helpers predict`` make, so the service answers exactly what they answer.
"""
from __future__ import annotations

import threading
import warnings
from pathlib import Path
from typing import Any

from helpers.serving.errors import SAMPLER_UNAVAILABLE, ServiceError, check_container, short, video_failure

SAMPLERS = ("uniform", "rl")


class ModelWorker:
    """The models one worker uses (built lazily per runtime, then kept)."""

    def __init__(self, checkpoint: str | Path | None, device: str, runtime: str = "auto",
                 rl_sampler: str | None = "auto", with_sound: str | Path | None = "auto") -> None:
        from helpers.inference.predict import sound_predictor
        from helpers.inference.predictor import load_predictor

        self.base = load_predictor(checkpoint, device=device)  # PyTorch; other runtimes derive from it
        self.sound_notes: list[str] = []
        self.sound = sound_predictor(with_sound, self.base, self.sound_notes)  # clips with sound, or None
        self.default_runtime = runtime
        self.rl_spec = rl_sampler
        self._variants: dict[str, Any] = {"torch": self.base}
        self._rl: Any = None
        self._lock = threading.Lock()
        self.predictor_for(runtime)  # export/load the default runtime now, not on the first request

    def predictor_for(self, runtime: str | None) -> Any:
        """The predictor on ``runtime`` (``auto``/``torch``/``onnxruntime``; see
        :func:`helpers.inference.with_runtime`: an unusable ONNX Runtime falls back to torch)."""
        from helpers.inference.runtime import with_runtime

        runtime = runtime or self.default_runtime
        with self._lock:
            if runtime not in self._variants:
                with warnings.catch_warnings():  # the fallback's reason is in runtime_note
                    warnings.simplefilter("ignore", RuntimeWarning)
                    self._variants[runtime] = with_runtime(self.base, runtime)
            return self._variants[runtime]

    def rl_sampler(self) -> Any:
        """Notebook 05's RL sampler (loaded on first use), or a 409 saying why there is none."""
        from helpers.inference.rl_sampler import NONE_SAVED, RLSamplerError, load_rl_sampler, locate_rl_sampler

        if self._rl is None:
            path = locate_rl_sampler(self.rl_spec) if self.rl_spec else None
            if path is None:
                raise ServiceError(SAMPLER_UNAVAILABLE, f"sampler 'rl': {NONE_SAVED}; use sampler=uniform")
            try:
                self._rl = load_rl_sampler(path)
            except (RLSamplerError, OSError) as exc:
                raise ServiceError(SAMPLER_UNAVAILABLE, f"sampler 'rl' cannot be used: {short(str(exc))}") from None
        return self._rl

    def predict(self, path: Path, name: str, *, top_k: int, runtime: str | None, sampler: str) -> dict[str, Any]:
        """The answer for the upload saved at ``path`` (``name``: what the client called it)."""
        from helpers.inference.predict import model_for_clip, predict_video
        from helpers.inference.predictor import InferenceError
        from helpers.video import VideoDecodeError

        check_container(path, name)
        predictor, note = self.predictor_for(runtime), ""
        rl: dict[str, Any] | None = None
        try:
            if sampler == "rl":
                from helpers.inference.rl_sampler import predict_on_picks

                rl_sampler = self.rl_sampler()
                pick = rl_sampler.pick(path, top_k=top_k)
                if not pick.frame_indices:
                    raise ServiceError(SAMPLER_UNAVAILABLE, "the RL sampler stopped without looking at any frame; "
                                                            "use sampler=uniform")
                result = predict_on_picks(path, predictor, pick, top_k, rl_sampler.name)
                rl = {"sampler": rl_sampler.name, "chosen_by": pick.chosen_by, "reason": pick.reason,
                      "looked": [pick.candidate_indices[o] for o in pick.order],
                      "ms": round(pick.ms, 1),
                      "top": [{"label": n, "probability": round(p, 6)} for n, p in pick.top]}
            else:
                result = predict_video(path, model=predictor, top_k=top_k, keep_frames=False, with_sound=self.sound)
                if self.sound is not None:
                    note = model_for_clip(bool(result.metadata.get("has_audio")), predictor, self.sound)[1]
        except (InferenceError, VideoDecodeError) as exc:
            raise video_failure(path, exc.reason, name) from None
        out = answer(result, name, predictor.runtime_note, rl)
        if note:
            out["note"] = note
        return out

    def describe(self) -> dict[str, Any]:
        """``GET /model``: what is loaded and the input it expects."""
        p = self.predictor_for(None)
        return {"name": p.name, "classes": list(p.class_names), "num_classes": len(p.class_names),
                "input_shape": [3, p.num_frames, p.crop, p.crop], "resize": list(p.resize),
                "runtime": p.runtime, "runtime_note": p.runtime_note, "device": p.device,
                "multimodal": bool(p.is_multimodal),
                "with_sound": self.sound.name if self.sound is not None else None,
                "with_sound_note": " · ".join(self.sound_notes),
                "checkpoint": str(p.checkpoint) if p.checkpoint is not None else None,
                "samplers": list(SAMPLERS)}


def answer(result: Any, name: str, runtime_note: str, rl: dict[str, Any] | None) -> dict[str, Any]:
    """A :class:`~helpers.inference.Prediction` as the service's JSON (no temporary path)."""
    out: dict[str, Any] = {
        "file": name, "label": result.label, "confidence": round(result.confidence, 6),
        "top": [{"label": n, "probability": round(p, 6)} for n, p in result.top],
        "frames": {"indices": result.frame_indices, "times_s": result.frame_times},
        "num_video_frames": result.num_video_frames, "fps": result.fps, "sampler": result.sampler,
        "model": result.model_name, "runtime": result.runtime, "runtime_note": runtime_note,
        "timings_ms": {"decode": round(result.decode_ms, 2), "preprocess": round(result.preprocess_ms, 2),
                       "model": round(result.model_ms, 2), "total": round(result.total_ms, 2)},
        "video": {k: result.metadata.get(k) for k in ("width", "height", "duration", "video_codec", "container",
                                                      "has_audio") if k in result.metadata},
    }
    if result.caption is not None or result.sync_score is not None:
        out["caption"] = result.caption
        out["sync_score"] = result.sync_score
    if rl is not None:
        out["rl"] = rl
    return out
