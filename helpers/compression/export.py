"""Export fp32 (and int8) models to files that load without the project's code:
TorchScript (``torch.jit.trace``), ``torch.export`` programs (``.pt2``) and ONNX.
Each export is checked by reloading the file and comparing outputs
(:func:`verify_export`).

The MoE model is exported through its traceable view
(:class:`~helpers.compression.deploy.DeployableActionMoE`): logits only, dense MoE.
ONNX uses the TorchScript-based exporter (``dynamo=False``, opset 17) with a dynamic
batch axis: it handles the dense MoE's top-k/scatter and is what ORT quantization reads.
"""
from __future__ import annotations

import warnings
from pathlib import Path
from typing import Any, Callable

import torch
from torch import Tensor, nn

from .deploy import logits_of, to_deployable, torchscript_extra_files, write_onnx_meta


def _atomic(path: Path) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    return path.with_name(path.name + ".part")


def export_torchscript(model: nn.Module, path: str | Path, example: Tensor, *,
                       meta: dict[str, Any] | None = None) -> Path:
    """TorchScript (traced on ``example``) of the model's traceable view, written
    atomically; ``meta`` (:func:`.deploy.deploy_meta`) goes into the archive's extra files."""
    path = Path(path)
    net = model if isinstance(model, torch.jit.ScriptModule) else to_deployable(model)
    tmp = _atomic(path)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        traced = net if isinstance(net, torch.jit.ScriptModule) else torch.jit.trace(net, example, check_trace=False)
        torch.jit.save(traced, str(tmp), _extra_files=torchscript_extra_files(meta))
    tmp.replace(path)
    return path


def export_program(model: nn.Module, path: str | Path, example: Tensor) -> Path:
    """``torch.export`` of the fp32 traceable view, saved as ``.pt2``."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.stem + ".part.pt2")  # torch.export wants the .pt2 suffix
    if example.shape[0] == 1:  # a batch of 1 would be specialised to 1
        example = torch.cat([example, example])
    batch = torch.export.Dim("batch", min=1, max=1024)
    with torch.no_grad():
        program = torch.export.export(to_deployable(model), (example,), dynamic_shapes=({0: batch},))
    torch.export.save(program, str(tmp))
    tmp.replace(path)
    return path


def export_onnx(model: nn.Module, path: str | Path, example: Tensor, opset: int = 17, *,
                meta: dict[str, Any] | None = None) -> Path:
    """ONNX (opset ``opset``, dynamic batch/time/size axes) of the model's traceable view,
    written atomically; ``meta`` (:func:`.deploy.deploy_meta`) goes into ``metadata_props``."""
    path = Path(path)
    tmp = path.with_name(path.stem + ".part.onnx")
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        torch.onnx.export(to_deployable(model), (example,), str(tmp), dynamo=False, opset_version=opset,
                          input_names=["video"], output_names=["logits"], dynamic_axes={"video": {0: "batch", 2: "time", 3: "height", 4: "width"},
                                                                                       "logits": {0: "batch"}})
    if meta is not None:
        write_onnx_meta(tmp, meta)
    tmp.replace(path)
    return path


def load_exported(path: str | Path, threads: int | None = 2) -> Callable[[Tensor], Tensor]:
    """A callable ``video -> logits`` for a ``.onnx``, ``.pt2`` or TorchScript ``.pt`` file."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no exported model file")
    if path.suffix == ".onnx":
        from .quantization import OnnxRunner

        return OnnxRunner(path, threads=threads)
    if path.suffix == ".pt2":
        return torch.export.load(str(path)).module()
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        return torch.jit.load(str(path), map_location="cpu").eval()


def verify_export(reference: Callable[[Tensor], Any], path: str | Path, example: Tensor,
                  atol: float = 1e-4) -> float:
    """Reload ``path``, run it and ``reference`` on ``example``; returns the max absolute
    logit difference and raises ``AssertionError`` when it exceeds ``atol``."""
    loaded = load_exported(path)
    with torch.no_grad():
        want = logits_of(reference(example)).float()
        got = logits_of(loaded(example)).float()
    diff = float((want - got).abs().max())
    if not diff <= atol:
        raise AssertionError(f"{path}: reloaded output differs by {diff:.3g} > {atol}")
    return diff
