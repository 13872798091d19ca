"""A trained model together with what it needs to see a video the way it was trained:
class names, frames per clip, resize and crop (all read from the checkpoint that
:mod:`helpers.training` wrote), the device, and optionally a frame sampler (the RL
sampler of notebook 05) that chooses which frames to decode.

Checkpoints are read with :func:`helpers.training.load_checkpoint` and rebuilt with
:func:`helpers.training.experiment.model_from_checkpoint` — one loader for the project.
"""
from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

TRAINING_NOTEBOOK = "notebooks/04_training.ipynb"
RUNTIMES: tuple[str, ...] = ("auto", "torch", "onnxruntime")  # what runs the model: helpers.inference.runtime

# (num_video_frames, num_frames) -> frame indices (the widget passes the RL sampler's picks this way:
# helpers.inference.rl_sampler.clip_indices)
FrameSampler = Callable[[int, int], np.ndarray]


class InferenceError(RuntimeError):
    """A video (or checkpoint) that cannot be used for a prediction: path and reason."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")


class NoCheckpointError(InferenceError):
    """No trained model on disk: says which notebook writes one."""


@dataclass
class Predictor:
    """Everything :func:`helpers.inference.predict_video` needs besides the file."""

    model: nn.Module  # or any callable video -> logits (TorchScript, an ONNX runner)
    class_names: list[str]
    num_frames: int = 16
    resize: tuple[int, int] = (128, 171)
    crop: int = 112
    device: str = "cpu"
    name: str = "model"
    checkpoint: Path | None = None
    sampler: FrameSampler | None = None  # None: uniform over the whole video
    sampler_name: str = "uniform"
    extra: dict[str, Any] = field(default_factory=dict)
    runtime: str = "torch"  # what runs ``model``: "torch" or "onnxruntime" (helpers.inference.runtime)
    runtime_note: str = ""  # why this runtime (e.g. the reason ONNX Runtime was not used)

    def __post_init__(self) -> None:
        self.resize = tuple(int(v) for v in self.resize)  # type: ignore[assignment]
        if self.runtime == "torch" and type(self.model).__name__ == "OnnxRunner":  # an .onnx file from notebook 06
            self.runtime = "onnxruntime"
        if hasattr(self.model, "eval"):
            self.model.eval()
        if isinstance(self.model, nn.Module) and not isinstance(self.model, torch.jit.ScriptModule):
            self.model.to(self.device)

    @property
    def is_multimodal(self) -> bool:
        from helpers.training.tasks import is_multimodal

        return is_multimodal(self.model)


def default_checkpoint(model: str = "moe", split: int = 1, models_dir: str | Path | None = None) -> Path:
    """What notebook 04 wrote for ``model`` on the active dataset
    (:func:`helpers.training.load.default_checkpoint`)."""
    from helpers.training.load import default_checkpoint as for_active_data

    return for_active_data(model, split, models_dir)


def load_predictor(checkpoint: str | Path | None = None, *, device: str = "cpu",
                   sampler: FrameSampler | None = None, sampler_name: str | None = None,
                   runtime: str = "torch") -> Predictor:
    """A :class:`Predictor` from a ``helpers.training`` checkpoint (default: the MoE
    model of split 1 under the settings' models folder). ``runtime``: ``"torch"``,
    ``"onnxruntime"`` or ``"auto"`` (:mod:`helpers.inference.runtime`: an fp32 ONNX
    export cached beside the checkpoint; PyTorch, with ``runtime_note`` saying why, when
    it cannot be used).

    Raises :class:`NoCheckpointError` when the file is missing (naming the notebook that
    writes it) and :class:`InferenceError` when it is damaged or of another schema.
    """
    from helpers.training import CheckpointError, load_checkpoint
    from helpers.training.experiment import model_from_checkpoint

    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
    if not path.is_file():
        raise NoCheckpointError(path, f"no trained model here: run {TRAINING_NOTEBOOK} first "
                                      "(or pass --checkpoint PATH)")
    try:
        state = load_checkpoint(path, mmap=True)  # the optimiser state stays on disk
    except CheckpointError as exc:
        raise InferenceError(path, exc.reason) from None
    try:
        model = model_from_checkpoint(state)
    except (KeyError, ValueError, RuntimeError) as exc:  # weights that do not fit their config
        raise InferenceError(path, f"not a model checkpoint this version can rebuild: {exc}"[:300]) from None
    cfg = state.get("config") or {}
    classes = list(state.get("class_names") or [])
    if not classes:
        n = int(getattr(getattr(model, "config", None), "num_classes", 0) or 0)
        classes = [f"class_{i}" for i in range(n)]
    predictor = Predictor(
        model=model, class_names=classes, num_frames=int(cfg.get("num_frames", 16)),
        resize=tuple(cfg.get("resize", (128, 171))), crop=int(cfg.get("crop", 112)), device=device,
        name=str(state.get("model_name") or cfg.get("model") or path.stem), checkpoint=path,
        sampler=sampler, sampler_name=sampler_name or ("uniform" if sampler is None else "custom"),
        extra={"best_metric": state.get("best_metric"), "epoch": state.get("epoch")},
    )
    if runtime == "torch":
        return predictor
    from helpers.inference.runtime import with_runtime

    return with_runtime(predictor, runtime)


def predictor_from_model(model: nn.Module | Any, class_names: Sequence[str], *, num_frames: int = 16,
                         resize: Sequence[int] = (128, 171), crop: int = 112, device: str = "cpu",
                         name: str | None = None) -> Predictor:
    """Wrap an in-memory model or any ``video -> logits`` callable (a compressed,
    TorchScript or ONNX model from notebook 06)."""
    return Predictor(model=model, class_names=list(class_names), num_frames=num_frames, resize=tuple(resize),
                     crop=crop, device=device, name=name or type(model).__name__)
