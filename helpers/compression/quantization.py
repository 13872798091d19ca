"""Post-training static int8 quantization of the MoE model (backbone + motion module +
MoE experts and classifier), calibrated on training clips, for CPU inference.

Which path, and why (measured on this 2-core machine, torch 2.14.1; issue 7 and
``benchmarks/compression.py``, all models timed interleaved on a 16×112² clip):

* **Primary: ONNX Runtime static QDQ** (:func:`quantize_onnx_static`: u8 activations,
  s8 per-channel weights, ``QLinearConv`` for every conv). Fastest here on a
  full-width (64) smoke MoE model: 632 ms vs 3274 ms torch fp32 and 1208 ms ORT fp32
  (loaded machine, interleaved). On the width-16 smoke teacher of the benchmark it
  gains nothing (112 vs 108 ms torch fp32): too few MACs for int8 to pay for its
  quantize/dequantize. Needs ``onnx`` + ``onnxruntime``; the file loads with
  ``onnxruntime`` alone.
* **Fallback: FX graph mode** (:func:`quantize_fx`, ``torch.ao.quantization``, x86
  qconfig): stays a torch module (same evaluation code, TorchScript save/reload, no
  extra runtime), ≈ 2.2× on plain ``r2plus1d_18`` per the issue, but on the MoE model
  only 1.0–1.7× here: the float islands (temporal differences, fusion gate, router) and
  their dequantize/quantize pairs eat the gain; ``torch.ao.quantization`` also warns it
  is deprecated. Use it where ORT is not available.
* Not used: dynamic quantization (Linear only, no gain: the time is in Conv3d);
  ORT dynamic quantization of 3D convs (``ConvInteger``, ~3× *slower* than fp32);
  PT2E with torchao's x86 lowering (only 1.2× in the issue's measurement).

What stays float: the MoE router (gate MLP + top-k), because int8 noise there flips
discrete expert choices; ops without int8 kernels (replicate padding, the temporal
difference, sigmoid gate) run in float between dequantize/quantize pairs.
"""
from __future__ import annotations

import copy
import warnings
from collections.abc import Iterable
from pathlib import Path
from typing import Any

import numpy as np
import torch
from torch import Tensor, nn

from .deploy import to_deployable


def _calibration_tensors(batches: Iterable[Any], max_batches: int | None) -> Iterable[Tensor]:
    for i, batch in enumerate(batches):
        if max_batches is not None and i >= max_batches:
            break
        yield batch["video"] if isinstance(batch, dict) else batch


def quantize_fx(model: nn.Module, calibration: Iterable[Any], *, backend: str = "x86",
                max_batches: int | None = None, keep_float: Iterable[str] = ("router",)) -> torch.fx.GraphModule:
    """Static int8 model (FX graph mode) of ``model`` calibrated on ``calibration``
    (Batches-contract dicts or video tensors). ``model`` may be the training model (its
    traceable view is taken) or any traceable module returning logits."""
    from torch.ao.quantization import get_default_qconfig_mapping
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    float_model = to_deployable(model)
    torch.backends.quantized.engine = "x86" if backend == "x86" else backend
    qmap = get_default_qconfig_mapping(backend)
    for name in keep_float:
        if any(n == name for n, _ in float_model.named_modules()):
            qmap = qmap.set_module_name(name, None)
    calib = list(_calibration_tensors(calibration, max_batches))
    if not calib:
        raise ValueError("quantize_fx needs at least one calibration batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notice
        prepared = prepare_fx(float_model, qmap, example_inputs=(calib[0][:1],))
        with torch.no_grad():
            for video in calib:
                prepared(video)
        quantized = convert_fx(prepared)
    return quantized.eval()


def save_quantized(qmodel: nn.Module, path: str | Path, example: Tensor) -> Path:
    """TorchScript the quantized model (``torch.jit.trace`` on ``example``) and write it
    atomically; loads with :func:`load_quantized` without any project code."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.trace(qmodel.eval(), example, check_trace=False)
        scripted = torch.jit.freeze(scripted)
    tmp = path.with_name(path.name + ".part")
    torch.jit.save(scripted, str(tmp))
    tmp.replace(path)
    return path


def load_quantized(path: str | Path) -> torch.jit.ScriptModule:
    """Reload a file written by :func:`save_quantized` (a TorchScript archive)."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no quantized model file")
    torch.backends.quantized.engine = "x86" if "x86" in torch.backends.quantized.supported_engines else \
        torch.backends.quantized.engine
    return torch.jit.load(str(path), map_location="cpu").eval()


class OnnxRunner:
    """An ONNX Runtime session called like a module: tensor in, logits tensor out."""

    def __init__(self, path: str | Path, threads: int | None = 2) -> None:
        import onnxruntime as ort

        self.path = Path(path)
        if not self.path.is_file():
            raise FileNotFoundError(f"{self.path}: no ONNX model file")
        opts = ort.SessionOptions()
        if threads:
            opts.intra_op_num_threads = threads
            opts.inter_op_num_threads = 1
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name

    def __call__(self, video: Tensor) -> Tensor:
        out = self.session.run(None, {self.input_name: video.detach().cpu().numpy().astype(np.float32)})
        return torch.from_numpy(out[0])

    def eval(self) -> "OnnxRunner":
        return self


def quantize_onnx_static(onnx_in: str | Path, onnx_out: str | Path, calibration: Iterable[Any], *,
                         max_batches: int | None = None, per_channel: bool = True,
                         op_types: tuple[str, ...] | None = ("Conv",)) -> Path:
    """The fallback path: ONNX Runtime static QDQ quantization (u8 activations, s8
    per-channel weights) of an fp32 ONNX file, calibrated on the given batches."""
    from onnxruntime.quantization import (CalibrationDataReader, QuantFormat, QuantType,
                                          quantize_static)
    from onnxruntime.quantization.shape_inference import quant_pre_process

    onnx_in, onnx_out = Path(onnx_in), Path(onnx_out)
    tensors = [v.detach().cpu().numpy().astype(np.float32) for v in _calibration_tensors(calibration, max_batches)]
    if not tensors:
        raise ValueError("quantize_onnx_static needs at least one calibration batch")
    import onnxruntime as ort

    name = ort.InferenceSession(str(onnx_in), providers=["CPUExecutionProvider"]).get_inputs()[0].name

    class _Reader(CalibrationDataReader):
        def __init__(self) -> None:
            self.items = iter([{name: t[i:i + 1]} for t in tensors for i in range(t.shape[0])])

        def get_next(self) -> dict | None:
            return next(self.items, None)

    onnx_out.parent.mkdir(parents=True, exist_ok=True)
    pre = onnx_out.with_name(onnx_out.stem + ".pre.onnx")
    tmp = onnx_out.with_name(onnx_out.name + ".part")
    try:
        quant_pre_process(str(onnx_in), str(pre), skip_symbolic_shape=True)
        quantize_static(str(pre), str(tmp), _Reader(), quant_format=QuantFormat.QDQ,
                        activation_type=QuantType.QUInt8, weight_type=QuantType.QInt8, per_channel=per_channel,
                        op_types_to_quantize=list(op_types) if op_types else None)
        tmp.replace(onnx_out)
    finally:
        for p in (pre, tmp):
            if p.exists():
                p.unlink()
    return onnx_out


def quantized_copy(model: nn.Module) -> nn.Module:
    """A deep copy (quantizers mutate modules)."""
    return copy.deepcopy(model)
