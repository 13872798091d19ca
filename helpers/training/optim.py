"""AdamW with parameter groups and the learning-rate schedules of the trainer.

Groups: the pretrained backbone (``backbone.*`` of the MoE model, ``vision.*`` and
``audio_encoder.*`` of the multi-modal one) learns at ``lr × backbone_lr_mult`` so
fine-tuning does not wash out what it learned on Kinetics/ImageNet; biases and
normalisation weights get no weight decay (as in torchvision's references).

Schedules: ``cosine`` — linear warmup for ``warmup_epochs`` then cosine decay to
``lr × min_lr_ratio``, stepped every optimizer step; ``plateau`` —
``ReduceLROnPlateau`` on validation accuracy, stepped once per epoch (no warmup);
``constant``.
"""
from __future__ import annotations

import math
from collections.abc import Iterable

import torch
from torch import nn

BACKBONE_PREFIXES: tuple[str, ...] = ("backbone.", "vision.", "audio_encoder.")


def param_groups(
    model: nn.Module,
    lr: float,
    weight_decay: float,
    backbone_lr_mult: float = 1.0,
    backbone_prefixes: Iterable[str] = BACKBONE_PREFIXES,
) -> list[dict]:
    """Up to four groups (backbone/head × decay/no-decay), empty ones left out; each
    carries a ``name`` for logs. Frozen parameters are skipped."""
    prefixes = tuple(backbone_prefixes)
    groups: dict[tuple[bool, bool], list[nn.Parameter]] = {}
    for name, p in model.named_parameters():
        if not p.requires_grad:
            continue
        backbone = name.startswith(prefixes)
        no_decay = p.ndim <= 1 or name.endswith(".bias")
        groups.setdefault((backbone, no_decay), []).append(p)
    out = []
    for (backbone, no_decay), params in sorted(groups.items()):
        out.append({
            "name": f"{'backbone' if backbone else 'head'}{'_no_decay' if no_decay else ''}",
            "params": params,
            "lr": lr * (backbone_lr_mult if backbone else 1.0),
            "weight_decay": 0.0 if no_decay else weight_decay,
        })
    return out


def build_optimizer(model: nn.Module, config) -> torch.optim.AdamW:
    """AdamW over :func:`param_groups` with the config's rates."""
    return torch.optim.AdamW(param_groups(model, config.lr, config.weight_decay, config.backbone_lr_mult),
                             lr=config.lr)


def warmup_cosine(step: int, total: int, warmup: int, min_ratio: float) -> float:
    """Multiplier of the base LR at optimizer step ``step`` (0-based)."""
    if warmup > 0 and step < warmup:
        return (step + 1) / warmup
    if total <= warmup:
        return 1.0
    progress = min(1.0, (step - warmup) / max(1, total - warmup))
    return min_ratio + (1 - min_ratio) * 0.5 * (1 + math.cos(math.pi * progress))


def build_scheduler(optimizer: torch.optim.Optimizer, config, steps_per_epoch: int):
    """The scheduler the config names; returns ``(scheduler, per_step)`` where
    ``per_step`` says whether to call ``step()`` after every optimizer step (else once
    per epoch with the validation accuracy)."""
    if config.scheduler == "cosine":
        total = max(1, config.epochs * steps_per_epoch)
        warmup = int(round(config.warmup_epochs * steps_per_epoch))
        ratio = config.min_lr_ratio
        sched = torch.optim.lr_scheduler.LambdaLR(
            optimizer, lambda s: warmup_cosine(s, total, warmup, ratio))
        return sched, True
    if config.scheduler == "plateau":
        sched = torch.optim.lr_scheduler.ReduceLROnPlateau(
            optimizer, mode="max", factor=config.plateau_factor, patience=config.plateau_patience)
        return sched, False
    if config.scheduler == "constant":
        return torch.optim.lr_scheduler.LambdaLR(optimizer, lambda s: 1.0), True
    raise ValueError(f"scheduler must be 'cosine', 'plateau' or 'constant', got {config.scheduler!r}")
