"""Dynamic int8 quantization for models the FX path cannot trace (the multi-modal model:
data-dependent control flow, Hugging Face audio and text parts, dict outputs).

Every ``nn.Linear`` gets int8 weights and int8 matmuls with activations quantized on the
fly (``torch.ao.quantization.quantize_dynamic``); convolutions and attention's inner
projections stay float, and so do the feed-forward layers of ``nn.TransformerEncoderLayer``
(its inference fast path reads ``linear1.weight`` as a tensor, which a quantized
layer's is not). No calibration data is needed, and the result is still the same
Python class, so everything that calls the float model (``predict_video`` included)
calls it unchanged.
"""
from __future__ import annotations

import copy
import io

import torch
from torch import nn


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


def saved_size_mb(model: nn.Module) -> float:
    """Bytes of ``torch.save(model.state_dict())`` in MB: what the weights cost on disk,
    packed int8 weights included."""
    buf = io.BytesIO()
    torch.save(model.state_dict(), buf)
    return buf.tell() / 1e6
