"""Which engine runs the model of a :class:`~helpers.inference.Predictor`: PyTorch, or
ONNX Runtime over an fp32 ONNX export of the same weights.

Why ONNX Runtime on the CPU: with batch 1 PyTorch sends most of the R(2+1)D ``Conv3d``
calls to its im2col path (``slow_conv3d``) and runs BatchNorm, ReLU and the padding as
separate passes, while ONNX Runtime fuses conv+BN+ReLU and uses its own blocked
convolutions: several times faster end to end for the full-size MoE model, with the same
logits (figures: ``benchmarks/RESULTS.md``, inference runtimes).

The export (:func:`helpers.compression.export.export_onnx`: the traceable logits-only
view of the model) is cached next to the checkpoint as ``<stem>.fp32-onnx`` — a suffix
that :func:`helpers.evaluation.discover_models` does not list as a model of its own —
written atomically, checked against PyTorch's logits once, and re-exported when the
checkpoint is newer. A read-only models folder (Kaggle's ``/kaggle/input``) puts it in
the settings' cache folder instead.

``runtime``: ``"torch"``; ``"onnxruntime"`` (falls back to PyTorch, with the reason in
``Predictor.runtime_note`` and a warning, when it cannot be used); ``"auto"``: ONNX
Runtime for video-only models on the CPU, else PyTorch (the note says why). The
multi-modal model stays on PyTorch: its inputs are several tensors (audio, frame
times) and its exporter path is not the one :mod:`helpers.compression` verifies.
"""
from __future__ import annotations

import copy
import dataclasses
import hashlib
import time
import warnings
from pathlib import Path

import torch

from helpers.inference.types import RUNTIMES, Predictor

CACHE_SUFFIX = ".fp32-onnx"
RTOL = 1e-3  # export check: max |Δlogit| ≤ RTOL · max(1, max |logit|)


class RuntimeUnavailable(RuntimeError):
    """ONNX Runtime cannot run this predictor's model; the message says why."""


def onnx_cache_path(checkpoint: str | Path, cache_dir: str | Path | None = None) -> Path:
    """Beside the checkpoint, or — for ``cache_dir`` — a name there unique to its path."""
    checkpoint = Path(checkpoint)
    if cache_dir is None:
        return checkpoint.with_name(checkpoint.stem + CACHE_SUFFIX)
    digest = hashlib.sha1(str(checkpoint.resolve()).encode()).hexdigest()[:10]
    return Path(cache_dir) / f"{checkpoint.stem}-{digest}{CACHE_SUFFIX}"


def _is_fresh(cache: Path, checkpoint: Path | None) -> bool:
    if not cache.is_file() or cache.stat().st_size == 0:
        return False
    return checkpoint is None or not checkpoint.is_file() or cache.stat().st_mtime_ns >= checkpoint.stat().st_mtime_ns


def _example(p: Predictor) -> torch.Tensor:
    gen = torch.Generator().manual_seed(0)
    return torch.randn(1, 3, p.num_frames, p.crop, p.crop, generator=gen)


def _torch_logits(model: torch.nn.Module, video: torch.Tensor) -> torch.Tensor:
    from helpers.compression.deploy import logits_of

    with torch.inference_mode():
        return logits_of(model(video)).float()


def export_checked(model: torch.nn.Module, path: Path, example: torch.Tensor) -> float:
    """Export ``model`` to ``path`` atomically (temporary file beside it, renamed when the
    export reproduces PyTorch's logits); returns the max logit difference."""
    from helpers.atomic import atomic_path
    from helpers.compression.export import export_onnx
    from helpers.compression.quantization import OnnxRunner

    model = model.cpu().eval()
    want = _torch_logits(model, example)
    with atomic_path(path) as tmp:
        export_onnx(model, tmp, example)
        got = OnnxRunner(tmp, threads=1)(example)
        if got.shape != want.shape:
            raise RuntimeUnavailable(f"ONNX export gives logits of shape {tuple(got.shape)}, "
                                     f"PyTorch {tuple(want.shape)}")
        diff = float((got - want).abs().max())
        bound = RTOL * max(1.0, float(want.abs().max()))
        if not diff <= bound:
            raise RuntimeUnavailable(f"ONNX export differs from PyTorch by {diff:.3g} (> {bound:.3g})")
    return diff


def _runner(path: Path, num_classes: int):
    from helpers.compression.quantization import OnnxRunner

    runner = OnnxRunner(path, threads=torch.get_num_threads())
    dims = runner.session.get_outputs()[0].shape
    if len(dims) != 2 or (isinstance(dims[1], int) and dims[1] != num_classes):
        raise RuntimeUnavailable(f"{path}: outputs {dims}, expected (batch, {num_classes})")
    return runner


def onnx_predictor(p: Predictor, cache: str | Path | None = None) -> Predictor:
    """``p`` with its model replaced by an ONNX Runtime session over the fp32 export
    (cached, see the module docstring). Raises :class:`RuntimeUnavailable` with the
    reason when that is not possible; ``p`` itself is left unchanged."""
    if p.is_multimodal:
        raise RuntimeUnavailable("the multi-modal model runs on PyTorch (several inputs: audio, frame times)")
    if not str(p.device).startswith("cpu"):
        raise RuntimeUnavailable(f"ONNX Runtime runs here on the CPU only, the device is {p.device}")
    if not isinstance(p.model, torch.nn.Module) or isinstance(p.model, torch.jit.ScriptModule):
        raise RuntimeUnavailable(f"{type(p.model).__name__} is not a PyTorch model to export")
    try:
        import onnxruntime  # noqa: F401
    except ImportError as exc:
        raise RuntimeUnavailable(f"onnxruntime is not installed ({exc})") from None
    checkpoint = Path(p.checkpoint) if p.checkpoint is not None else None
    if cache is not None:
        paths = [Path(cache)]
    elif checkpoint is not None:
        from helpers.settings import get_settings

        paths = [onnx_cache_path(checkpoint), onnx_cache_path(checkpoint, get_settings().cache_dir / "onnx")]
    else:  # an in-memory model: nothing to cache against
        import tempfile

        paths = [Path(tempfile.mkdtemp(prefix="helpers-onnx-")) / f"{p.name}{CACHE_SUFFIX}"]
    num_classes = len(p.class_names)
    note = ""
    errors: list[str] = []
    for path in paths:
        if _is_fresh(path, checkpoint):
            try:
                runner = _runner(path, num_classes)
                note = f"ONNX Runtime fp32 ({path})"
                break
            except Exception as exc:  # a damaged cache: export again below
                errors.append(f"{path}: {type(exc).__name__}: {exc}"[:200])
        try:
            t0 = time.perf_counter()
            diff = export_checked(p.model, path, _example(p))
            runner = _runner(path, num_classes)
            note = (f"ONNX Runtime fp32 ({path}, exported now in {time.perf_counter() - t0:.1f} s, "
                    f"max logit difference to PyTorch {diff:.1e})")
            break
        except OSError as exc:  # read-only folder, full disk: try the next place
            errors.append(f"{path}: {exc}"[:200])
        except RuntimeUnavailable:
            raise
        except Exception as exc:  # an exporter limitation: say it, do not crash the prediction
            raise RuntimeUnavailable(f"ONNX export failed: {type(exc).__name__}: {str(exc)[:200]}") from None
    else:
        raise RuntimeUnavailable("cannot write the ONNX export: " + "; ".join(errors))
    return dataclasses.replace(p, model=runner, runtime="onnxruntime", runtime_note=note,
                               extra={**p.extra, "onnx_path": str(path)})


def with_runtime(p: Predictor, runtime: str = "auto", cache: str | Path | None = None) -> Predictor:
    """``p`` on ``runtime`` (see the module docstring). Never raises for an unusable
    ONNX Runtime: the PyTorch predictor comes back with ``runtime_note`` saying why
    (and, when ``"onnxruntime"`` was asked for explicitly, a warning)."""
    if runtime not in RUNTIMES:
        raise ValueError(f"runtime must be one of {RUNTIMES}, got {runtime!r}")
    if runtime == "torch" or p.extra.get("fixed_runtime"):  # a TorchScript/ONNX file runs as written
        return p
    try:
        return onnx_predictor(p, cache)
    except RuntimeUnavailable as exc:
        reason = f"PyTorch: {exc}"
        if runtime == "onnxruntime":
            warnings.warn(f"runtime='onnxruntime' not used, falling back to PyTorch: {exc}", RuntimeWarning,
                          stacklevel=2)
        out = copy.copy(p)  # not dataclasses.replace: no second __post_init__ (model.to(device))
        out.runtime, out.runtime_note = "torch", reason
        return out
