"""Static int8 quantization of the MoE model (backbone + motion module + MoE experts and
classifier) for CPU inference: post-training, calibrated on training clips, and
quantization-aware fine-tuning for when post-training loses more than a point.

Which path, and why (figures: ``benchmarks/RESULTS.md``, compression and int8):

* **Primary: FX graph mode** (:func:`quantize_fx`, ``torch.ao.quantization``, x86
  qconfig: fbgemm/oneDNN kernels, per-channel int8 weights, conv+BN+ReLU fused). It stays
  a torch module (same evaluation code, TorchScript save/reload, no extra runtime) and
  supports quantization-aware fine-tuning (:func:`quantize_qat_fx`). Two things make it
  fast and faithful: the temporal replicate padding runs on int8 tensors
  (:func:`keep_padding_int8`; FX would wrap every pad in a float round trip, and
  ``torch.cat`` on quantized tensors is far slower than ``quantized::cat``), and the
  stem's first conv stays float (:data:`KEEP_FLOAT`) with full 8-bit activations where
  the CPU has VNNI (:func:`cpu_has_vnni`).
* **Fallback: ONNX Runtime static QDQ** (:func:`quantize_onnx_static`: u8 activations,
  s8 per-channel weights, ``QLinearConv``), for where ``torch.ao.quantization``
  (deprecated) is not available; the file needs only ``onnxruntime``. On narrow models
  the quantize/dequantize around every conv costs more than int8 saves; at full width it
  pays off.
* PyTorch fp32 is slow on these models with batch 1 (most ``Conv3d`` calls take the
  im2col path, BN/ReLU/padding run as separate passes); FX int8 fuses them. The benchmark
  therefore also reports ``int8_speedup_vs_fp32_onnxruntime``, against the fastest fp32.
* Not used: dynamic quantization (Linear only: the time is in Conv3d); ORT dynamic
  quantization of 3D convs (``ConvInteger``, slower than fp32); PT2E with torchao's x86
  lowering (little gain).
* Under load 2-thread OpenMP kernels slow down several-fold, so latencies are medians of
  interleaved runs, and ORT sessions are created without spinning threads.

What stays float: the MoE router (gate MLP + top-k), because int8 noise there flips
discrete expert choices; the Motion Dynamics Module (a leaf for FX: its cues are
differences and products of activations that int8 rounding would erase, and its code
branches on shapes, which FX symbolic tracing cannot follow); ops without int8 kernels
(sigmoid gate, LayerNorm/GELU in the experts) run in float between dequantize/quantize
pairs on (B, 128) vectors — cheap.
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

from .deploy import time_pad_parts, to_deployable, torchscript_extra_files


def _calibration_tensors(batches: Iterable[Any], max_batches: int | None) -> Iterable[Tensor]:
    for i, batch in enumerate(batches):
        if max_batches is not None and i >= max_batches:
            break
        yield batch["video"] if isinstance(batch, dict) else batch


def _float_leaves(model: nn.Module, names: Iterable[str]) -> dict[str, Any]:
    """FX prepare config: submodules (present in ``model``) that are not traced into and stay float."""
    present = {n for n, _ in model.named_modules()}
    return {"non_traceable_module_name": [n for n in names if n in present]}


def _int8_pad(x: Tensor, pad: int, scale: Tensor, zero_point: Tensor) -> Tensor:
    """:func:`.deploy.replicate_pad_time` of an int8 tensor straight into the next conv's
    int8 parameters (``quantized::cat`` requantizes while it copies)."""
    return torch.ops.quantized.cat(time_pad_parts(x, pad), 2, float(scale), int(zero_point))


torch.fx.wrap("_int8_pad")


def keep_padding_int8(gm: torch.fx.GraphModule) -> int:
    """Rewrite ``dequantize → replicate_pad_time → quantize_per_tensor`` (how FX converts a
    function it has no int8 pattern for) into one int8 :func:`_int8_pad`. Why: the round
    trip through float costs a full feature map each way before every temporal conv.
    Returns how many pads were rewritten."""
    from .deploy import replicate_pad_time

    n_done = 0
    for node in list(gm.graph.nodes):
        if node.target is not replicate_pad_time:
            continue
        src, users = node.args[0], list(node.users)
        if not (isinstance(src, torch.fx.Node) and src.op == "call_method" and src.target == "dequantize"
                and len(users) == 1 and users[0].target is torch.quantize_per_tensor):
            continue
        quant = users[0]
        with gm.graph.inserting_before(quant):
            new = gm.graph.call_function(_int8_pad, (src.args[0], node.args[1], quant.args[1], quant.args[2]))
        quant.replace_all_uses_with(new)
        for dead in (quant, node):
            gm.graph.erase_node(dead)
        if not src.users:
            gm.graph.erase_node(src)
        n_done += 1
    gm.graph.lint()
    gm.recompile()
    return n_done


#: Submodules of the deployable view kept in float: the router (see the module
#: docstring) and the stem's first conv + BN + ReLU, which read the normalised video
#: itself: quantizing the video to 8 bits per tensor was most of the int8 model's
#: disagreement with fp32, for < 1 % of the multiply-adds (3 input channels).
KEEP_FLOAT = ("router", "backbone.stem.0", "backbone.stem.1", "backbone.stem.2")


def cpu_has_vnni() -> bool:
    """Whether this CPU has the VNNI int8 dot-product instructions (AVX512-VNNI, AVX-VNNI
    or AMX). Without them fbgemm's u8×s8 kernels can saturate 16-bit intermediates, which
    is why PyTorch's default x86 qconfig uses 7-bit activations (``reduce_range``)."""
    try:
        flags = Path("/proc/cpuinfo").read_text()
    except OSError:
        return False
    return any(f in flags for f in ("avx512_vnni", "avx_vnni", "amx_int8"))


def _qconfig_mapping(backend: str, reduce_range: bool | None, model: nn.Module, keep_float: Iterable[str],
                     qat: bool = False) -> Any:
    """The default (QAT) qconfig mapping of ``backend`` with the activation range chosen:
    full 8 bits where the CPU has VNNI (no saturation, and closer to fp32), else 7 bits; the
    ``keep_float`` submodules present in ``model`` left unquantized."""
    from torch.ao.quantization import FakeQuantize, HistogramObserver, QConfig, \
        get_default_qat_qconfig_mapping, get_default_qconfig_mapping

    if reduce_range is None:
        reduce_range = not cpu_has_vnni()
    qmap = (get_default_qat_qconfig_mapping if qat else get_default_qconfig_mapping)(backend)
    weight = qmap.global_qconfig.weight
    if qat:  # histogram ranges calibrated once, then fixed (see quantize_qat_fx)
        act = FakeQuantize.with_args(observer=HistogramObserver, quant_min=0, quant_max=127 if reduce_range else 255,
                                     dtype=torch.quint8, qscheme=torch.per_tensor_affine)
    else:
        act = HistogramObserver.with_args(reduce_range=reduce_range)
    qmap = qmap.set_global(QConfig(activation=act, weight=weight))
    present = {n for n, _ in model.named_modules()}
    for name in keep_float:
        if name in present:
            qmap = qmap.set_module_name(name, None)
    return qmap


def quantize_fx(model: nn.Module, calibration: Iterable[Any], *, backend: str = "x86",
                max_batches: int | None = None, keep_float: Iterable[str] = KEEP_FLOAT,
                float_leaves: Iterable[str] = ("motion",), reduce_range: bool | None = None) -> torch.fx.GraphModule:
    """Static int8 model (FX graph mode) of ``model`` calibrated on ``calibration``
    (Batches-contract dicts or video tensors). ``model`` may be the training model (its
    traceable view is taken) or any traceable module returning logits.
    ``reduce_range=None``: 7-bit activations only on CPUs without VNNI (:func:`cpu_has_vnni`)."""
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_fx

    from helpers.devices import int8_device

    param = next(model.parameters(), None)
    if param is not None and param.device.type != int8_device(param.device):  # one line, then a CPU copy
        model = copy.deepcopy(model).cpu()
    float_model = to_deployable(model)
    torch.backends.quantized.engine = "x86" if backend == "x86" else backend
    qmap = _qconfig_mapping(backend, reduce_range, float_model, keep_float)
    calib = list(_calibration_tensors(calibration, max_batches))
    if not calib:
        raise ValueError("quantize_fx needs at least one calibration batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # torch.ao.quantization deprecation notice
        prepared = prepare_fx(float_model, qmap, example_inputs=(calib[0][:1],),
                              prepare_custom_config=_float_leaves(float_model, float_leaves))
        with torch.no_grad():
            for video in calib:
                prepared(video)
        quantized = convert_fx(prepared)
    keep_padding_int8(quantized)
    return quantized.eval()


def quantize_qat_fx(model: nn.Module, train_loader: Iterable[Any], *, epochs: int = 2, lr: float = 1e-4,
                    run_dir: str | Path, train_config: Any = None, backend: str = "x86",
                    max_train_batches: int | None = None, calibration_batches: int | None = 8,
                    keep_float: Iterable[str] = KEEP_FLOAT, float_leaves: Iterable[str] = ("motion",),
                    reduce_range: bool | None = None) -> torch.fx.GraphModule:
    """Quantization-aware fine-tuning (FX graph mode): fake-quantize weights and
    activations, train a few epochs on the labels with BatchNorm statistics frozen at
    the trained values (conv+BN folded as ``torch.ao`` does for QAT), then convert to
    the same int8 modules as :func:`quantize_fx`. For when post-training quantization
    loses more than a point: the weights learn to sit where int8 rounds them well.

    Activation ranges: the default QAT observers (moving-average min/max) gave logits
    6× further from fp32 than post-training's histogram observers on the smoke model
    (0.70 vs 0.12 max error), so the activation ranges come from histogram observers,
    calibrated once on the training clips (one batched pass) and then held fixed while
    training; weight ranges keep tracking the weights."""
    from torch.ao.nn.intrinsic import qat as nniqat
    from torch.ao.quantization import disable_observer
    from torch.ao.quantization.quantize_fx import convert_fx, prepare_qat_fx

    from .distillation import train_plain

    float_model = to_deployable(model).train()
    torch.backends.quantized.engine = "x86" if backend == "x86" else backend
    qmap = _qconfig_mapping(backend, reduce_range, float_model, keep_float, qat=True)
    calib = list(_calibration_tensors(train_loader, calibration_batches))
    if not calib:
        raise ValueError("quantize_qat_fx needs at least one training batch")
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        prepared = prepare_qat_fx(float_model, qmap, example_inputs=(calib[0][:1],),
                                  prepare_custom_config=_float_leaves(float_model, float_leaves))
        prepared.apply(nniqat.freeze_bn_stats)
        prepared.eval()
        with torch.no_grad():
            prepared(torch.cat(calib))  # one pass: a histogram search per observer, not per step
        prepared.apply(disable_observer)
        for m in prepared.modules():  # weights move while training: their ranges follow
            wfq = getattr(m, "weight_fake_quant", None)
            if wfq is not None:
                wfq.enable_observer()
        prepared = train_plain(prepared, train_loader, run_dir=run_dir, epochs=epochs, lr=lr,
                               train_config=train_config, max_train_batches=max_train_batches)
        quantized = convert_fx(prepared.eval())
    keep_padding_int8(quantized)
    return quantized.eval()


def save_quantized(qmodel: nn.Module, path: str | Path, example: Tensor, *,
                   meta: dict[str, Any] | None = None) -> Path:
    """TorchScript the quantized model (``torch.jit.trace`` on ``example``) and write it
    atomically; loads with :func:`load_quantized` without any project code. ``meta``
    (:func:`.deploy.deploy_meta`): stored in the archive's extra files, so
    :func:`helpers.inference.load_predictor` opens the file on its own."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    with torch.no_grad(), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        scripted = torch.jit.trace(qmodel.eval(), example, check_trace=False)
        scripted = torch.jit.freeze(scripted)
    tmp = path.with_name(path.name + ".part")
    torch.jit.save(scripted, str(tmp), _extra_files=torchscript_extra_files(meta))
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
        # no busy-waiting after a run: spinning pool threads would steal the cores from
        # whatever model is timed next in an interleaved comparison
        opts.add_session_config_entry("session.intra_op.allow_spinning", "0")
        opts.log_severity_level = 3
        self.session = ort.InferenceSession(str(self.path), opts, providers=["CPUExecutionProvider"])
        self.input_name = self.session.get_inputs()[0].name
        # hand the memory arena back after each run: a session otherwise keeps its largest
        # batch's activations (gigabytes per session for a full-size batch of clips)
        self.run_options = ort.RunOptions()
        self.run_options.add_run_config_entry("memory.enable_memory_arena_shrinkage", "cpu:0")

    def __call__(self, video: Tensor) -> Tensor:
        out = self.session.run(None, {self.input_name: video.detach().cpu().numpy().astype(np.float32)},
                               self.run_options)
        return torch.from_numpy(out[0])

    def eval(self) -> "OnnxRunner":
        return self


#: Clips that calibrate the ONNX Runtime path (see :func:`quantize_onnx_static`).
ONNX_CALIBRATION_CLIPS = 8


def quantize_onnx_static(onnx_in: str | Path, onnx_out: str | Path, calibration: Iterable[Any], *,
                         max_batches: int | None = None, max_clips: int | None = ONNX_CALIBRATION_CLIPS,
                         per_channel: bool = True, op_types: tuple[str, ...] | None = ("Conv",),
                         meta: dict[str, Any] | None = None) -> Path:
    """The fallback path: ONNX Runtime static QDQ quantization (u8 activations, s8
    per-channel weights) of an fp32 ONNX file, calibrated on at most ``max_clips`` clips
    of the given batches: ONNX Runtime's calibrator keeps every intermediate output of
    every clip until the end (several hundred MB per full-size clip).
    ``meta`` (:func:`.deploy.deploy_meta`): stored in the output's ``metadata_props``."""
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
            self.items = iter([{name: t[i:i + 1]} for t in tensors for i in range(t.shape[0])][:max_clips])

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
        if meta is not None:
            from .deploy import write_onnx_meta

            write_onnx_meta(tmp, meta)
        tmp.replace(onnx_out)
    finally:
        for p in (pre, tmp):
            if p.exists():
                p.unlink()
    return onnx_out
