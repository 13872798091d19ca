"""A trained model together with what it needs to see a video the way it was trained:
class names, frames per clip, resize and crop, the device, and optionally a frame
sampler (the RL sampler of notebook 05) that chooses which frames to decode.

:func:`load_predictor` is the one loader for every model file the series writes
(:mod:`.model_files` reads the format from the file): ``helpers.training`` checkpoints
(read with :func:`helpers.training.load_checkpoint`, rebuilt with
:func:`helpers.training.experiment.model_from_checkpoint`), and notebook 06's
TorchScript, ONNX, pruned and dynamic-int8 files, which carry their class names and
input shape.
"""
from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

from torch import nn

from helpers.inference import model_files
from helpers.inference.runtime import with_runtime
from helpers.inference.types import (RUNTIMES, TRAINING_NOTEBOOK, FrameSampler, InferenceError,
                                     MissingMetadataError, NoCheckpointError, Predictor)
from helpers.training.load import default_checkpoint  # noqa: F401  (re-exported: what notebook 04 wrote)

__all__ = ["RUNTIMES", "TRAINING_NOTEBOOK", "FrameSampler", "InferenceError", "MissingMetadataError",
           "NoCheckpointError", "Predictor", "default_checkpoint", "load_predictor", "predictor_from_model"]


def load_predictor(checkpoint: str | Path | None = None, *, device: str = "cpu",
                   sampler: FrameSampler | None = None, sampler_name: str | None = None,
                   runtime: str = "torch") -> Predictor:
    """A :class:`Predictor` from any model file the series writes (default: the MoE
    model of split 1 under the settings' models folder): a ``helpers.training``
    checkpoint, or notebook 06's fp32, pruned, int8 (TorchScript, ONNX or dynamic-int8)
    and student files. ``runtime``: ``"torch"``, ``"onnxruntime"`` or ``"auto"``
    (:mod:`helpers.inference.runtime`: an fp32 ONNX export cached beside the checkpoint;
    PyTorch, with ``runtime_note`` saying why, when it cannot be used). TorchScript and
    ONNX files run as written, on the CPU.

    Raises :class:`NoCheckpointError` when the file is missing (naming the notebook that
    writes it), :class:`MissingMetadataError` for a valid file without class names and
    input shape (saying how to rewrite it) and :class:`InferenceError` when it is
    damaged or of another kind.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    path = Path(checkpoint) if checkpoint is not None else default_checkpoint()
    if not path.is_file():
        raise NoCheckpointError(path, f"no trained model here: run {TRAINING_NOTEBOOK} first "
                                      "(or pass --checkpoint PATH)")
    fmt = model_files.file_format(path)
    picked = dict(device=device, sampler=sampler,
                  sampler_name=sampler_name or ("uniform" if sampler is None else "custom"))
    if fmt in ("torchscript", "onnx"):
        opened = model_files.open_torchscript(path) if fmt == "torchscript" else model_files.open_onnx(path)
        return _deployed_predictor(path, *opened, fmt=fmt, runtime=runtime, **picked)
    from helpers.training import CheckpointError, load_checkpoint

    try:
        state = load_checkpoint(path, mmap=True)  # the optimiser state stays on disk
    except CheckpointError as exc:
        if fmt != "torch":  # not a complete archive: damaged (or not a model file at all)
            raise InferenceError(path, exc.reason) from None
        model, meta, kind = model_files.open_torch_file(path, exc.reason)
        predictor = _deployed_predictor(path, model, meta, fmt=kind, runtime=runtime, **picked)
        return predictor if runtime == "torch" else with_runtime(predictor, runtime)
    predictor = _checkpoint_predictor(path, state, **picked)
    return predictor if runtime == "torch" else with_runtime(predictor, runtime)


def _checkpoint_predictor(path: Path, state: dict[str, Any], *, device: str, sampler: FrameSampler | None,
                          sampler_name: str) -> Predictor:
    """The model a ``helpers.training/1`` checkpoint holds, with its config's input shape."""
    from helpers.compression.deploy import META_KEY
    from helpers.training.experiment import model_from_checkpoint

    try:
        model = model_from_checkpoint(state)
    except (KeyError, ValueError, RuntimeError) as exc:  # weights that do not fit their config
        raise InferenceError(path, f"not a model checkpoint this version can rebuild: {exc}"[:300]) from None
    cfg = state.get("config") or {}
    classes = list(state.get("class_names") or [])
    if not classes:
        n = int(getattr(getattr(model, "config", None), "num_classes", 0) or 0)
        classes = [f"class_{i}" for i in range(n)]
    return Predictor(
        model=model, class_names=classes, num_frames=int(cfg.get("num_frames", 16)),
        resize=tuple(cfg.get("resize", (128, 171))), crop=int(cfg.get("crop", 112)), device=device,
        name=str(state.get("model_name") or cfg.get("model") or path.stem), checkpoint=path,
        sampler=sampler, sampler_name=sampler_name,
        extra={"best_metric": state.get("best_metric"), "epoch": state.get("epoch"), "file_format": "checkpoint",
               "kind": (state.get(META_KEY) or {}).get("kind", "trained")},
    )


def _deployed_predictor(path: Path, model: Any, meta: dict[str, Any], *, fmt: str, runtime: str, device: str,
                        sampler: FrameSampler | None, sampler_name: str) -> Predictor:
    """A notebook-06 file's model with the class names and input shape it carries.
    TorchScript, ONNX and dynamic-int8 files run on the CPU with the runtime they were
    written for (int8 kernels are CPU kernels)."""
    fixed = fmt in ("torchscript", "onnx", "dynamic_int8")
    note = ""
    if fixed and not str(device).startswith("cpu"):
        note = f"{fmt} file: runs on the CPU (asked for {device})"
    if fixed and runtime != "torch" and (runtime == "onnxruntime") != (fmt == "onnx"):
        note = note or f"{fmt} file: runs as written (runtime {runtime!r} not applicable)"
    return Predictor(
        model=model, class_names=list(meta["class_names"]), num_frames=meta["num_frames"], resize=meta["resize"],
        crop=meta["crop"], device="cpu" if fixed else device, name=str(meta.get("model_name") or path.stem),
        checkpoint=path, sampler=sampler, sampler_name=sampler_name,
        extra={"file_format": fmt, "kind": meta.get("kind"), "mean": meta.get("mean"), "std": meta.get("std"),
               "fixed_runtime": fixed},
        runtime="onnxruntime" if fmt == "onnx" else "torch", runtime_note=note,
    )


def predictor_from_model(model: nn.Module | Any, class_names: Sequence[str], *, num_frames: int = 16,
                         resize: Sequence[int] = (128, 171), crop: int = 112, device: str = "cpu",
                         name: str | None = None) -> Predictor:
    """Wrap an in-memory model or any ``video -> logits`` callable (a compressed,
    TorchScript or ONNX model from notebook 06)."""
    return Predictor(model=model, class_names=list(class_names), num_frames=num_frames, resize=tuple(resize),
                     crop=crop, device=device, name=name or type(model).__name__)
