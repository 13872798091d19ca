"""Dynamic int8 quantization for models the FX path cannot trace (the multi-modal model:
data-dependent control flow, Hugging Face audio and text parts, dict outputs).

Every ``nn.Linear`` gets int8 weights and int8 matmuls with activations quantized on the
fly (``torch.ao.quantization.quantize_dynamic``); convolutions and attention's inner
projections stay float, and so do the feed-forward layers of ``nn.TransformerEncoderLayer``
(its inference fast path reads ``linear1.weight`` as a tensor, which a quantized
layer's is not). No calibration data is needed, and the result is still the same
Python class, so everything that calls the float model (``predict_video`` included)
calls it unchanged.

The deployable file (:func:`save_dynamic_int8`, format :data:`DYNAMIC_FORMAT`) holds the
int8 model's state with the weights that stay float at run time (convolutions, embeddings,
attention projections) stored as int8 too: per output channel, symmetric, with float32
scales, turned back into float weights when the file is loaded (weight-only int8). Those layers then compute
in float with weights rounded to 256 levels per channel; for a model whose frame encoder
is a CNN that is most of the file. With the weights comes the model config that rebuilds
the architecture without a download and the deploy metadata (class names, input shape,
kind ``"int8_dynamic"``), so :func:`helpers.inference.load_predictor` opens it with
``weights_only=True``.
"""
from __future__ import annotations

import copy
import io
from collections import OrderedDict
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

DYNAMIC_FORMAT = "helpers.compression.dynamic/1"
KIND = "int8_dynamic"
MIN_STORED_INT8 = 256  # smaller float tensors (norms, biases, gates) are stored as they are


def quantize_dynamic_int8(model: nn.Module) -> nn.Module:
    """An int8 copy of ``model`` (eval mode, CPU): its ``nn.Linear`` layers quantized
    dynamically; ``model`` itself is left as it was."""
    from torch.ao.quantization import default_dynamic_qconfig, quantize_dynamic

    float_copy = copy.deepcopy(model).cpu().eval()
    keep_float = {f"{name}.{part}" for name, m in float_copy.named_modules()
                  if isinstance(m, nn.TransformerEncoderLayer) for part in ("linear1", "linear2")}
    spec = {name: default_dynamic_qconfig for name, m in float_copy.named_modules()
            if type(m) is nn.Linear and name not in keep_float}  # not attention's out_proj subclass
    return quantize_dynamic(float_copy, spec, dtype=torch.qint8)


def is_dynamic_int8(model: nn.Module) -> bool:
    """Whether ``model`` already holds dynamically quantized layers."""
    from torch.ao.nn.quantized.dynamic import Linear as DynamicLinear

    return any(isinstance(m, DynamicLinear) for m in model.modules())


def saved_size_mb(model: nn.Module) -> float:
    """Bytes of ``torch.save(model.state_dict())`` in MB: what the weights cost on disk,
    packed int8 weights included."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.tell() / 1e6


def int8_weight(weight: Tensor) -> tuple[Tensor, Tensor]:
    """``weight`` as int8 values and one float32 scale per output channel (dim 0),
    symmetric: each channel's largest magnitude maps to 127."""
    w = weight.detach().float().cpu()
    peak = w.reshape(w.shape[0], -1).abs().amax(1)
    scale = torch.where(peak > 0, peak / 127.0, torch.ones_like(peak))
    values = torch.round(w / scale.view(-1, *[1] * (w.dim() - 1))).clamp(-127, 127).to(torch.int8)
    return values, scale


def float_weight(values: Tensor, scale: Tensor) -> Tensor:
    """The float weight :func:`int8_weight` stored: ``values * scale`` per channel."""
    return values.float() * scale.view(-1, *[1] * (values.dim() - 1))


def packed_state(model: nn.Module) -> dict[str, Any]:
    """``model.state_dict()`` split in two: ``"state"``, everything but the float tensors
    of at least two dimensions and :data:`MIN_STORED_INT8` elements, and ``"int8"``,
    those as ``(values, scales)`` of :func:`int8_weight` (the dynamically quantized
    layers' packed weights are int8 already and stay in ``"state"``). A weight shared by
    several modules is stored once."""
    state = model.state_dict()
    kept: dict[str, Any] = OrderedDict()
    kept._metadata = getattr(state, "_metadata", {})  # type: ignore[attr-defined]  # the layers' versions
    int8: dict[str, tuple[Tensor, Tensor]] = {}
    done: dict[tuple, tuple[Tensor, Tensor]] = {}
    for key, value in state.items():
        if isinstance(value, Tensor) and value.is_floating_point() and value.dim() >= 2 \
                and value.numel() >= MIN_STORED_INT8:
            same = (value.data_ptr(), tuple(value.shape), tuple(value.stride()))
            if same not in done:
                done[same] = int8_weight(value)
            int8[key] = done[same]
        else:
            kept[key] = value
    return {"state": kept, "int8": int8}


def unpacked_state(packed: Mapping[str, Any]) -> dict[str, Any]:
    """The state dict :func:`packed_state` came from, its int8-stored weights as float."""
    state = packed["state"]
    out: dict[str, Any] = OrderedDict(state)
    out._metadata = getattr(state, "_metadata", {})  # type: ignore[attr-defined]
    for key, (values, scale) in packed["int8"].items():
        out[key] = float_weight(values, scale)
    return out


def save_dynamic_int8(model: nn.Module, path: str | Path, *, meta: Mapping[str, Any],
                      model_name: str = "multimodal") -> Path:
    """Write the deployable dynamic-int8 file of the float ``model`` (see the module
    docstring) atomically; returns ``path``. ``meta``: :func:`.deploy.deploy_meta` of the
    model's training config and class names (its ``kind`` is set to :data:`KIND`)."""
    from helpers.atomic import atomic_path
    from helpers.training.checkpoint import package_versions
    from helpers.training.experiment import built_model_config

    from .deploy import META_KEY

    if is_dynamic_int8(model):
        raise ValueError("save_dynamic_int8 takes the float model: its config rebuilds the architecture")
    state = {"format": DYNAMIC_FORMAT, "model_name": str(model_name), "model_config": built_model_config(model),
             "model": packed_state(quantize_dynamic_int8(model)), "versions": package_versions(),
             META_KEY: {**dict(meta), "kind": KIND}}
    with atomic_path(path) as tmp:
        torch.save(state, tmp)
    return Path(path)


def dynamic_model_from_state(state: Mapping[str, Any]) -> nn.Module:
    """Rebuild the int8 model a :func:`save_dynamic_int8` dict describes: the float
    architecture from its config (no download), quantized the same way, then its weights."""
    from helpers.training.experiment import build_model

    mcfg = dict(state["model_config"])
    for flag in ("pretrained", "vision_pretrained", "audio_pretrained", "caption_pretrained"):
        if flag in mcfg:
            mcfg[flag] = False
    model = quantize_dynamic_int8(build_model(state["model_name"], mcfg))
    model.load_state_dict(unpacked_state(state["model"]))
    return model.eval()


def load_dynamic_int8(path: str | Path) -> nn.Module:
    """The int8 model of a file :func:`save_dynamic_int8` wrote (read with ``weights_only=True``)."""
    state = torch.load(Path(path), map_location="cpu", weights_only=True)
    if not isinstance(state, dict) or state.get("format") != DYNAMIC_FORMAT:
        raise ValueError(f"{path}: not a {DYNAMIC_FORMAT} file")
    return dynamic_model_from_state(state)


def write_dynamic_int8(checkpoint: str | Path, out_dir: str | Path) -> dict[str, Any]:
    """The deployable dynamic-int8 file of a training checkpoint's model, written to
    ``out_dir/<model_name>_int8_dynamic.pt`` with the checkpoint's class names, input
    shape and data record; returns the path and the sizes (MB) of the float weights and
    of the file."""
    from helpers.training.load import load_trained

    from .deploy import deploy_meta

    model, state = load_trained(checkpoint)
    name = str(state.get("model_name") or state["config"].get("model") or "multimodal")
    classes = list(state.get("class_names") or [])
    meta = deploy_meta(state.get("config") or {}, classes, name, kind=KIND, data=state.get("data"))
    path = save_dynamic_int8(model, Path(out_dir) / f"{name}_int8_dynamic.pt", meta=meta, model_name=name)
    float_mb, file_mb = saved_size_mb(model), path.stat().st_size / 1e6
    return {"path": str(path), "model_name": name, "kind": KIND, "float_size_mb": round(float_mb, 3),
            "compressed_size_mb": round(file_mb, 3), "size_ratio": round(float_mb / file_mb, 2)}
