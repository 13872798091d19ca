"""The weighted multi-task loss both models train with.

    total = w_cls · CE(logits, label; label smoothing)
          + w_caption · token CE(caption_logits[:, :-1], ids[:, 1:]; padding ignored)
          + w_sync · BCE(sync_logits, aligned?) over clips that have audio
          + w_aux · aux_loss  (the MoE's Switch load-balancing term, already scaled by its α)

A term whose inputs a model does not produce (no captions, no audio, no MoE) is left
out, not counted as zero, so ``parts`` shows only what was trained.
"""
from __future__ import annotations

from dataclasses import dataclass, field, fields

import torch
import torch.nn.functional as F
from torch import Tensor


@dataclass
class TaskOutputs:
    """What one forward pass gives the loss and the metrics, whatever the model."""

    logits: Tensor  # (B, classes)
    labels: Tensor  # (B,)
    aux_loss: Tensor | None = None
    caption_logits: Tensor | None = None  # (B, L, V) predicting caption_ids shifted by one
    caption_ids: Tensor | None = None  # (B, L)
    caption_pad_id: int = 0
    sync_logits: Tensor | None = None  # (M,)
    sync_labels: Tensor | None = None  # (M,) 1 aligned, 0 shifted
    sync_mask: Tensor | None = None  # (M,) True where the clip has audio
    expert_counts: Tensor | None = None  # (experts,) samples routed to each expert
    extra: dict = field(default_factory=dict)


@dataclass(frozen=True)
class LossWeights:
    cls: float = 1.0
    caption: float = 0.5
    sync: float = 0.5
    aux: float = 1.0


LOSS_PARTS: tuple[str, ...] = tuple(f.name for f in fields(LossWeights))  # the names ``parts`` can hold


class MultiTaskLoss:
    """``loss(outputs) -> (total, parts)``; ``parts`` holds each term, unweighted and
    detached, for the history."""

    def __init__(self, weights: LossWeights | None = None, label_smoothing: float = 0.0) -> None:
        self.weights = weights or LossWeights()
        self.label_smoothing = label_smoothing

    @classmethod
    def from_config(cls, config) -> "MultiTaskLoss":
        w = LossWeights(config.cls_weight, config.caption_weight, config.sync_weight, config.aux_weight)
        return cls(w, config.label_smoothing)

    def __call__(self, out: TaskOutputs) -> tuple[Tensor, dict[str, float]]:
        w = self.weights
        parts: dict[str, Tensor] = {"cls": F.cross_entropy(out.logits.float(), out.labels,
                                                           label_smoothing=self.label_smoothing)}
        total = w.cls * parts["cls"]
        if out.caption_logits is not None and out.caption_ids is not None and w.caption > 0:
            parts["caption"] = caption_loss(out.caption_logits, out.caption_ids, out.caption_pad_id)
            total = total + w.caption * parts["caption"]
        if out.sync_logits is not None and out.sync_labels is not None and w.sync > 0:
            sync = sync_loss(out.sync_logits, out.sync_labels, out.sync_mask)
            if sync is not None:
                parts["sync"] = sync
                total = total + w.sync * sync
        if out.aux_loss is not None and w.aux > 0:
            parts["aux"] = out.aux_loss.float()
            total = total + w.aux * parts["aux"]
        return total, {k: float(v.detach()) for k, v in parts.items()}


def caption_loss(caption_logits: Tensor, caption_ids: Tensor, pad_id: int = 0) -> Tensor:
    """Teacher forcing: position t predicts token t+1; padding does not count."""
    logits = caption_logits[:, :-1].float()
    target = caption_ids[:, 1:].to(logits.device)
    return F.cross_entropy(logits.reshape(-1, logits.shape[-1]), target.reshape(-1), ignore_index=pad_id)


def sync_loss(sync_logits: Tensor, sync_labels: Tensor, mask: Tensor | None = None) -> Tensor | None:
    """Binary cross-entropy over the rows with audio (None when no row has any)."""
    logits, labels = sync_logits.float(), sync_labels.to(sync_logits.device).float()
    if mask is not None:
        mask = mask.to(logits.device)
        if not bool(mask.any()):
            return None
        logits, labels = logits[mask], labels[mask]
    return F.binary_cross_entropy_with_logits(logits, labels)
