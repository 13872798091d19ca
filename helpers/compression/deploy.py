"""A traceable, logits-only view of :class:`~helpers.models.ActionMoEDynamicModel`.

Why a separate view: the training model returns a dataclass and its MoE runs each
expert only on the rows routed to it (``nonzero`` + ``index_add``, data-dependent
shapes), and its temporal convolutions use ``padding_mode="replicate"``. FX graph-mode
quantization, ``torch.export``/TorchScript and ONNX need a fixed graph returning a
tensor, and quantized ``Conv3d`` supports only zero padding. The view computes the same
function in eval mode:

* every replicate-padded ``Conv3d`` becomes ``ReplicationPad3d`` + the same conv with
  zero temporal padding (identical numbers);
* the MoE runs densely (as the model's MoE does in eval mode): all experts on all rows,
  weighted by the gate matrix that is exactly zero outside each row's top-k;
* the Motion Dynamics Module is called through its tensor-only ``features()`` (the same
  code as training). Its shape branch (``T < 2``) is fine for tracing-based exporters
  (TorchScript, ONNX, ``torch.export``: shapes are concrete); FX symbolic tracing treats
  the module as a leaf (:mod:`.quantization` keeps it in float).

The routing (gate MLP, top-k, softmax, scatter) lives in one submodule, ``router``, so a
quantizer can keep it in float: int8 noise there would flip discrete expert choices.
"""
from __future__ import annotations

import copy
import json
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

DEPLOY_FORMAT = "helpers.deploy/1"
META_FILE = "helpers_deploy.json"  # TorchScript: the name under the archive's extra/ folder
META_KEY = "helpers_deploy"  # ONNX: the metadata_props key; torch files: the dict key


class ReplicatePadConv3d(nn.Module):
    """``Conv3d(padding_mode="replicate")`` as an explicit pad + zero-padded conv.

    Time-only padding (the R(2+1)D temporal convs) is done by concatenating copies of
    the edge frames (:func:`replicate_pad_time`): ``quantized::cat`` is an int8 kernel,
    ``replication_pad3d`` has none, so the quantized graph stays int8 through it."""

    def __init__(self, conv: nn.Conv3d) -> None:
        super().__init__()
        pt, ph, pw = conv.padding
        self.time_pad = int(pt) if (ph, pw) == (0, 0) else 0
        self.pad = None if self.time_pad else nn.ReplicationPad3d((pw, pw, ph, ph, pt, pt))
        self.conv = nn.Conv3d(conv.in_channels, conv.out_channels, conv.kernel_size, conv.stride, 0,
                              conv.dilation, conv.groups, conv.bias is not None)
        self.conv.load_state_dict(conv.state_dict())

    def forward(self, x: Tensor) -> Tensor:
        if self.pad is not None:
            return self.conv(self.pad(x))
        return self.conv(replicate_pad_time(x, self.time_pad))


def time_pad_parts(x: Tensor, pad: int) -> list[Tensor]:
    """``[first]*pad + [x] + [last]*pad`` along time, ready to concatenate. ``torch.narrow``,
    not a slice: FX quantization keeps narrow on the int8 tensor."""
    first, last = torch.narrow(x, 2, 0, 1), torch.narrow(x, 2, x.shape[2] - 1, 1)
    return [first] * pad + [x] + [last] * pad


def replicate_pad_time(x: Tensor, pad: int) -> Tensor:
    """``x`` (B, C, T, H, W) with its first and last frames repeated ``pad`` times.

    On an int8 tensor it calls ``quantized::cat`` with the input's own scale: the generic
    ``torch.cat`` on quantized tensors dequantizes and requantizes every input (with 23
    temporal convs that was most of the int8 model's time). FX keeps this function as one node (``torch.fx.wrap`` below) that
    :func:`helpers.compression.quantization.keep_padding_int8` turns into an int8 op."""
    parts = time_pad_parts(x, pad)
    if x.is_quantized:
        return torch.ops.quantized.cat(parts, 2, x.q_scale(), x.q_zero_point())
    return torch.cat(parts, dim=2)


torch.fx.wrap("replicate_pad_time")


def replace_replicate_padding(module: nn.Module) -> int:
    """Swap every replicate-padded Conv3d below ``module`` in place; returns how many."""
    n = 0
    for name, child in list(module.named_children()):
        if isinstance(child, nn.Conv3d) and child.padding_mode == "replicate":
            setattr(module, name, ReplicatePadConv3d(child))
            n += 1
        else:
            n += replace_replicate_padding(child)
    return n


class MotionFeatures(nn.Module):
    """The Motion Dynamics Module as a module whose ``forward`` returns its (B, dim)
    features tensor (its ``features()`` when it has one), so FX can keep it as one leaf."""

    def __init__(self, motion: nn.Module) -> None:
        super().__init__()
        self.module = motion

    def forward(self, feature_map: Tensor) -> Tensor:
        m = self.module
        if hasattr(m, "features"):  # the module's own tensor-only path (exactly the training function)
            return m.features(feature_map)
        r = m.reduce(feature_map)  # an older module without it: reduce → differences → encode → pool → project
        return m.project(torch.flatten(nn.functional.adaptive_avg_pool3d(m.encode(r[:, :, 1:] - r[:, :, :-1]), 1), 1))


class DenseRouter(nn.Module):
    """Eval-mode noisy-top-k gate without the noise (the MoE's own gate MLP and
    :func:`~helpers.models.moe.top_k_gates`): (B, dim) → (B, N) gate matrix. One
    submodule, so a quantizer can keep the discrete expert choice in float."""

    def __init__(self, gate: nn.Module, k: int) -> None:
        super().__init__()
        self.gate, self.k = gate, k

    def forward(self, x: Tensor) -> Tensor:
        from helpers.models.moe import top_k_gates

        return top_k_gates(self.gate(x), self.k)[0]


class DeployableActionMoE(nn.Module):
    """video (B, 3, T, H, W) → logits (B, classes), the model's eval-mode function built
    from its own pieces: :func:`~helpers.models.action_moe.backbone_features`, the motion
    module's ``features``, the fusion module, the MoE's gate with
    :func:`~helpers.models.moe.dense_mixture` (what the MoE runs in eval mode), the
    classifier. See the module docstring for what differs (padding, dense MoE)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        m = copy.deepcopy(model).cpu().eval()
        self.backbone = m.backbone
        self.motion_stage = m.config.motion_stage
        self.motion = MotionFeatures(m.motion)
        self.fusion = m.fusion
        self.router = DenseRouter(m.moe.gate, m.moe.k)
        self.experts = m.moe.experts
        self.classifier = m.classifier
        self.num_classes = m.classifier.out_features
        replace_replicate_padding(self)
        self.eval()

    def forward(self, video: Tensor) -> Tensor:
        from helpers.models.action_moe import backbone_features
        from helpers.models.moe import dense_mixture

        appearance, motion_map = backbone_features(self.backbone, self.motion_stage, video)
        fused = self.fusion(appearance, self.motion(motion_map))
        return self.classifier(dense_mixture(fused, self.router(fused), self.experts))


def to_deployable(model: nn.Module) -> nn.Module:
    """The traceable view of an ActionMoEDynamicModel; other modules are returned as a
    deep-copied eval-mode module (students already return logits)."""
    from helpers.models import ActionMoEDynamicModel

    if isinstance(model, ActionMoEDynamicModel):
        return DeployableActionMoE(model)
    return copy.deepcopy(model).cpu().eval()


def logits_of(output: Any) -> Tensor:
    """Logits from whatever a model returns (a tensor, an object with ``.logits``, a dict)."""
    if isinstance(output, Tensor):
        return output
    if isinstance(output, dict):
        return output["logits"]
    if isinstance(output, (tuple, list)):
        return output[0]
    return output.logits


def _config_dict(train_config: Any) -> dict[str, Any]:
    if train_config is None:
        return {}
    if isinstance(train_config, Mapping):
        return dict(train_config)
    return dict(train_config.to_dict())


def deploy_meta(train_config: Any, class_names: Sequence[str], model_name: str = "moe", *,
                kind: str = "fp32", data: str | Path | Mapping[str, Any] | None = None) -> dict[str, Any]:
    """What a predictor needs besides the weights, as plain JSON values: the class names,
    the input the model was trained on (frames, resize, crop, normalisation), what kind
    of model the file holds, and the training config and data it came from (so
    evaluation finds the test split). ``train_config``: the teacher's TrainConfig (or its
    ``to_dict()``); ``kind``: e.g. ``"fp32"``, ``"pruned"``, ``"int8"``, ``"student"``;
    ``data``: the data folder, or the teacher checkpoint's ``"data"`` record.
    Every save function of :mod:`helpers.compression` takes it as ``meta=``."""
    from helpers.datasets.transforms import KINETICS_MEAN, KINETICS_STD

    cfg = json.loads(json.dumps(_config_dict(train_config), default=str))  # plain JSON values only
    names = [str(c) for c in class_names]
    if not names:
        raise ValueError("deploy_meta needs the class names the model predicts")
    meta = {"format": DEPLOY_FORMAT, "kind": str(kind), "model_name": str(model_name), "class_names": names,
            "num_frames": int(cfg.get("num_frames", 16)), "resize": [int(v) for v in cfg.get("resize", (128, 171))],
            "crop": int(cfg.get("crop", 112)), "mean": list(KINETICS_MEAN), "std": list(KINETICS_STD),
            "train_config": cfg}
    if data is not None:
        record = dict(data) if isinstance(data, Mapping) else {"dir": str(Path(data).resolve())}
        meta["data"] = json.loads(json.dumps(record, default=str))
    return meta


def meta_json(meta: Mapping[str, Any]) -> str:
    """``meta`` as the JSON text stored in TorchScript and ONNX files."""
    return json.dumps(dict(meta), sort_keys=True)


def torchscript_extra_files(meta: Mapping[str, Any] | None) -> dict[str, str]:
    """``_extra_files`` for ``torch.jit.save``: the metadata under :data:`META_FILE`."""
    return {} if meta is None else {META_FILE: meta_json(meta)}


def write_onnx_meta(path: str | Path, meta: Mapping[str, Any]) -> Path:
    """Store ``meta`` in the ONNX file's ``metadata_props`` (key :data:`META_KEY`), in place;
    ONNX Runtime reads it back as ``session.get_modelmeta().custom_metadata_map``."""
    import onnx

    path = Path(path)
    proto = onnx.load(str(path))
    kept = [p for p in proto.metadata_props if p.key != META_KEY]
    del proto.metadata_props[:]
    proto.metadata_props.extend(kept)
    onnx.helper.set_model_props(proto, {**{p.key: p.value for p in kept}, META_KEY: meta_json(meta)})
    onnx.save(proto, str(path))
    return path


def save_fp32_deployable(model: nn.Module, path: str | Path, train_config: Any, class_names: Sequence[str],
                         model_name: str = "moe", *, meta: Mapping[str, Any] | None = None) -> Path:
    """Write an fp32 model (the teacher, or its unstructured-pruned copy) as a
    ``helpers.training/1`` checkpoint without optimizer state: the one loader
    (:func:`helpers.inference.load_predictor`) rebuilds it from the stored model config,
    and it loads with ``weights_only=True``. ``meta`` (default: :func:`deploy_meta` of
    the arguments, kind ``"fp32"``) is stored too, under :data:`META_KEY`."""
    from helpers.training.checkpoint import FORMAT, package_versions, save_checkpoint
    from helpers.training.experiment import built_model_config

    cfg = _config_dict(train_config)
    state = {"format": FORMAT, "model": {k: v.detach().cpu() for k, v in model.state_dict().items()},
             "epoch": 0, "step": 0, "config": cfg, "model_name": str(model_name),
             "model_config": built_model_config(model), "class_names": [str(c) for c in class_names],
             "optimizer": None, "scheduler": None, "scaler": None, "versions": package_versions(),
             META_KEY: dict(meta) if meta is not None else deploy_meta(cfg, class_names, model_name)}
    if state[META_KEY].get("data"):  # what evaluation reads to find the test split
        state["data"] = state[META_KEY]["data"]
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    return save_checkpoint(path, state)
