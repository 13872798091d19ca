"""The types every part of :mod:`helpers.inference` shares: the :class:`Predictor`, its
errors and the runtime names. A module of its own so that the loader
(:mod:`.predictor`), the runtimes (:mod:`.runtime`) and the file formats
(:mod:`.model_files`) import it and not each other.
"""
from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import nn

from helpers.training.load import TRAINING_NOTEBOOK  # noqa: F401 - re-exported: the notebook that trains

COMPRESSION_NOTEBOOK = "notebooks/06_compression.ipynb"
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

    def __reduce__(self):  # keep both fields when sent back from a worker process
        return (type(self), (self.path, self.reason))


class NoCheckpointError(InferenceError):
    """No trained model on disk: says which notebook writes one."""


class MissingMetadataError(InferenceError):
    """A valid model file that lacks what a prediction needs (class names, input shape):
    written before model files carried them. The reason says how to rewrite it."""


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
