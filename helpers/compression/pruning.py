"""Pruning the MoE model: structured channel pruning that really removes channels, and
unstructured magnitude pruning for comparison.

* :func:`structured_prune` uses ``torch-pruning``'s dependency graph (Fang et al.,
  "DepGraph", CVPR 2023). Why a library: in R(2+1)D every residual ``x + block(x)``
  ties the output channels of a whole stage together (stem, each block's second conv,
  the downsample conv), and the Motion Dynamics Module reads ``layer1``; the graph
  finds those coupled groups and prunes them together, so every addition keeps matching
  shapes. Channels are ranked by group L2 magnitude. The 512-d feature that the motion
  projection, the fusion gate and the MoE read stays whole (its producers and the head
  are ignored layers), so the head is untouched.
* :func:`unstructured_prune` zeroes the smallest weights with ``torch.nn.utils.prune``
  and makes it permanent. The honest result: same tensor shapes, so no speed-up and no
  smaller file unless stored sparse — shown in the notebook for comparison.
* :func:`fine_tune` recovers accuracy with the project's
  :class:`~helpers.training.trainer.Trainer` (same loop, losses and evaluation).

A pruned model no longer matches its config's shapes: save it with :func:`save_pruned`
(the pruned state plus the original config; ``torch-pruning`` re-applies the shapes on
load) or export it (:mod:`helpers.compression.export`).
"""
from __future__ import annotations

import copy
import pickle
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import torch
from torch import Tensor, nn

from helpers.measure import count_parameters

from .deploy import logits_of


@dataclass
class PruneReport:
    """Numbers before and after one pruning run."""

    ratio: float
    params_before: int
    params_after: int
    macs_before: float
    macs_after: float

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def count_macs(model: nn.Module, example: Tensor) -> float:
    """Multiply-accumulates of one forward on ``example`` (``torch-pruning``'s counter,
    run on the traceable view so the MoE counts all experts it evaluates)."""
    import torch_pruning as tp

    from .deploy import to_deployable

    macs, _ = tp.utils.count_ops_and_params(to_deployable(model), example)
    return float(macs)


class _BackboneView(nn.Module):
    """The backbone and motion module of the MoE model (shared, not copied) with a plain
    tensor output, for the dependency graph. Why: traced through the motion module's
    temporal-difference slices and the MoE head the graph's group search does not finish
    in minutes. Only the motion module's first conv is in the view (its input channels
    follow ``layer1``; its outputs are kept); the rest of the motion module and the head
    are never pruned (their input, the 512-d feature, stays whole)."""

    def __init__(self, model: nn.Module) -> None:
        super().__init__()
        self.backbone, self.motion = model.backbone, model.motion
        self.motion_stage = model.config.motion_stage

    def forward(self, video: Tensor) -> Tensor:
        from helpers.models.backbones import R2PLUS1D_STAGES

        x, motion_map = video, video
        for name in R2PLUS1D_STAGES:
            x = getattr(self.backbone, name)(x)
            if name == self.motion_stage:
                motion_map = x
        reduced = self.motion.reduce(motion_map).mean(dim=(2, 3, 4))
        return torch.cat([self.backbone.avgpool(x).flatten(1), reduced], dim=1)


def default_ignored_layers(model: nn.Module) -> list[nn.Module]:
    """Layers whose output channels must stay: the head and the producers of the final
    512-d feature (last block's second conv and the downsample of every block of layer4)."""
    from helpers.models import ActionMoEDynamicModel

    if not isinstance(model, ActionMoEDynamicModel):
        last = [m for m in model.modules() if isinstance(m, nn.Linear)]
        return last[-1:]
    ignored: list[nn.Module] = [model.motion, model.fusion, model.moe, model.classifier]
    for block in model.backbone.layer4:
        ignored.append(block.conv2[0][3])  # temporal conv producing the block's output
        if block.downsample is not None:
            ignored.append(block.downsample[0])
    return ignored


def structured_prune(model: nn.Module, ratio: float, example: Tensor, *, ignored_layers: list[nn.Module] | None = None,
                     round_to: int | None = None, inplace: bool = False) -> tuple[nn.Module, PruneReport]:
    """Remove ``ratio`` of the prunable channels of every coupled group (L2 group
    magnitude), keeping residual additions consistent. Returns ``(pruned, report)``;
    ``model`` is left untouched unless ``inplace``."""
    import torch_pruning as tp

    if not 0.0 <= ratio < 1.0:
        raise ValueError(f"ratio must be in [0, 1), got {ratio}")
    target = model if inplace else copy.deepcopy(model)
    target = target.cpu().eval()
    params_before, macs_before = count_parameters(target), count_macs(target, example)
    if ignored_layers is None:
        ignored_layers = default_ignored_layers(target)
    view = _BackboneView(target) if hasattr(target, "backbone") and hasattr(target, "motion") else target
    pruner = tp.pruner.MetaPruner(
        view, example, importance=tp.importance.GroupMagnitudeImportance(p=2), pruning_ratio=ratio,
        ignored_layers=ignored_layers, round_to=round_to, output_transform=logits_of,
    )
    pruner.step()
    report = PruneReport(ratio, params_before, count_parameters(target), macs_before, count_macs(target, example))
    return target, report


def unstructured_prune(model: nn.Module, amount: float, *, inplace: bool = False) -> tuple[nn.Module, float]:
    """Global L1 magnitude pruning of every conv and linear weight, made permanent.
    Returns ``(model, sparsity)`` with sparsity the zero fraction of those weights."""
    from torch.nn.utils import prune

    target = model if inplace else copy.deepcopy(model)
    params = [(m, "weight") for m in target.modules() if isinstance(m, (nn.Conv3d, nn.Conv2d, nn.Linear))]
    prune.global_unstructured(params, pruning_method=prune.L1Unstructured, amount=amount)
    for m, name in params:
        prune.remove(m, name)
    zeros = sum(int((m.weight == 0).sum()) for m, _ in params)
    total = sum(m.weight.numel() for m, _ in params)
    return target, zeros / max(total, 1)


FINETUNE_LR = 3e-4  # recovery fine-tune of a pruned model: a tenth of training's 1e-3


def fine_tune(model: nn.Module, train_loader: Any, val_loader: Any = None, *, epochs: int = 1, lr: float = FINETUNE_LR,
              run_dir: str | Path, config: Any = None, max_train_batches: int | None = None) -> nn.Module:
    """A short recovery fine-tune with the project's Trainer (AdamW, the same losses and
    evaluation) on the settings' device; returns the model in eval mode on CPU. ``config``
    (a TrainConfig) sets everything else; by default the smoke preset's loop settings."""
    from helpers.settings import get_settings
    from helpers.training import TrainConfig, Trainer

    cfg = (config or TrainConfig.smoke("moe")).with_(epochs=epochs, lr=lr, warmup_epochs=0.0, backbone_lr_mult=1.0,
                                                     early_stopping_patience=None, progress=False,
                                                     max_train_batches=max_train_batches)
    trainer = Trainer(model, cfg, train_loader, val_loader, run_dir=run_dir, device=get_settings().device)
    trainer.fit()
    return trainer.core.cpu().eval()


PRUNED_FORMAT = "helpers.compression.pruned/1"
_PLAIN = (bool, int, float, str, type(None))


def _plain(value: Any) -> bool:
    """Whether ``value`` loads with ``torch.load(weights_only=True)``: numbers, strings and
    tuples/lists of them (the channel counts and kernel shapes pruning changed)."""
    if isinstance(value, (tuple, list)):
        return all(_plain(v) for v in value)
    return isinstance(value, _PLAIN)


def plain_pruned_state(model: nn.Module) -> dict[str, Any]:
    """What ``torch_pruning.state_dict(model)`` holds, restricted to each module's
    parameters, buffers and plain attributes (channel counts, kernel shapes): the
    submodules and configs it would pickle are rebuilt from the stored model config,
    so the file loads with ``weights_only=True`` (no pickled code runs).
    :func:`torch_pruning.load_state_dict` reads it as its own format."""
    import torch_pruning as tp

    state = tp.state_dict(model)
    tensors = {name: {k: dict(d[k]) for k in ("_parameters", "_buffers") if k in d}
               for name, d in state["full_state_dict"].items()}
    attributions = {name: {k: (tuple(v) if isinstance(v, list) else v) for k, v in attrs.items()
                           if _plain(v) and k != "training"}
                    for name, attrs in state["attributions"].items()}
    return {"full_state_dict": tensors, "attributions": attributions}


def save_pruned(model: nn.Module, path: str | Path, model_config: dict[str, Any] | None = None, *,
                meta: dict[str, Any] | None = None) -> Path:
    """Write the pruned weights with their shapes (``torch_pruning.state_dict``) and the
    config that builds the unpruned model, atomically. With ``meta``
    (:func:`.deploy.deploy_meta`) the file also carries the class names and input shape
    (under :data:`.deploy.META_KEY`) and holds only plain values, so
    :func:`helpers.inference.load_predictor` opens it with ``weights_only=True``."""
    import torch_pruning as tp

    from .deploy import META_KEY

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    cfg = model_config if model_config is not None else getattr(getattr(model, "config", None), "to_dict", dict)()
    state: dict[str, Any] = {"format": PRUNED_FORMAT, "model_config": cfg}
    if meta is None:
        state["pruned_state"] = tp.state_dict(model)
    else:
        state["pruned_state"] = plain_pruned_state(model)
        state[META_KEY] = dict(meta)
    tmp = path.with_name(path.name + ".part")
    torch.save(state, tmp)
    tmp.replace(path)
    return path


def pruned_model_from_state(state: dict[str, Any]) -> nn.Module:
    """Rebuild the ActionMoEDynamicModel a :func:`save_pruned` dict describes (random init
    of the full model, then torch-pruning reshapes and loads the pruned weights)."""
    import torch_pruning as tp

    from helpers.models import ActionMoEConfig, ActionMoEDynamicModel

    cfg = dict(state["model_config"], pretrained=False)
    if isinstance(cfg.get("backbone_layers"), list):
        cfg["backbone_layers"] = tuple(cfg["backbone_layers"])
    model = ActionMoEDynamicModel(ActionMoEConfig(**cfg))
    tp.load_state_dict(model, state_dict=state["pruned_state"])
    return model.eval()


def load_pruned(path: str | Path) -> nn.Module:
    """Rebuild an ActionMoEDynamicModel written by :func:`save_pruned`. Files written with
    ``meta`` load with ``weights_only=True``; older ones hold pickled objects (our own
    files, from notebook 06) and are read with ``weights_only=False``."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"{path}: no pruned model file")
    try:
        state = torch.load(path, map_location="cpu", weights_only=True)
    except pickle.UnpicklingError:
        state = torch.load(path, map_location="cpu", weights_only=False)
    if not isinstance(state, dict) or state.get("format") != PRUNED_FORMAT:
        raise ValueError(f"{path}: not a helpers.compression pruned model")
    return pruned_model_from_state(state)
