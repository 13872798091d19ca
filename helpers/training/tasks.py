"""From a Batches-contract dict to :class:`~helpers.training.losses.TaskOutputs`, for
each model: the only place that knows how a model is called and what it returns, so the
trainer loop stays the same for both.

* ``ActionMoEDynamicModel``: ``model(video)`` → logits, the MoE aux loss, expert counts.
* ``MultiModalVideoModel``: with audio in the batch (and ``sync`` on) the batch is
  doubled by :func:`helpers.models.make_sync_pairs` (aligned + time-shifted audio);
  classification and captioning use the aligned half, the sync head sees both halves
  (clips without audio masked out). Captions train by teacher forcing.
"""
from __future__ import annotations

import warnings
from typing import Any

import torch
from torch import Tensor, nn

from helpers.training.losses import TaskOutputs

MIN_SYNC_SHIFT_S = 0.5
# the batch keys a multi-modal model is trained on (what a teacher of it reads too)
MULTIMODAL_INPUTS: tuple[str, ...] = ("video", "frame_times", "audio", "audio_mel", "audio_mask")


def unwrap(model: nn.Module) -> nn.Module:
    """The model inside DDP/``accelerate``/``torch.compile`` wrappers."""
    while True:
        inner = getattr(model, "module", None) or getattr(model, "_orig_mod", None)
        if inner is None:
            return model
        model = inner


def is_multimodal(model: nn.Module) -> bool:
    from helpers.models import MultiModalVideoModel

    return isinstance(unwrap(model), MultiModalVideoModel)


def task_outputs(model: nn.Module, batch: dict[str, Any], *, sync: bool = True, captions: bool = True) -> TaskOutputs:
    """Run ``model`` (possibly wrapped) on ``batch`` and collect what the loss needs. A
    training step that knows its own outputs (a distillation step with a teacher:
    :class:`~helpers.compression.distillation.MultiModalDistillStep`) gives them itself."""
    own = getattr(unwrap(model), "task_outputs", None)
    if own is not None:
        return own(batch, sync=sync, captions=captions)
    if is_multimodal(model):
        return _multimodal(model, batch, sync=sync, captions=captions)
    out = model(batch["video"])
    routing = getattr(out, "routing", None)
    return TaskOutputs(
        logits=out if isinstance(out, Tensor) else out.logits,  # deployable files return the logits tensor
        labels=batch["label"],
        aux_loss=getattr(out, "aux_loss", None),
        expert_counts=None if routing is None else routing.counts.detach(),
    )


def _audio_window_s(batch: dict[str, Any]) -> float:
    if "audio" in batch:
        return batch["audio"].shape[-1] / 16000
    return 0.0


def _multimodal(model: nn.Module, batch: dict[str, Any], *, sync: bool, captions: bool) -> TaskOutputs:
    from helpers.models import make_sync_pairs

    core = unwrap(model)
    b = int(batch["video"].shape[0])
    mask = batch.get("audio_mask")
    with_sync = (sync and core.audio_encoder is not None and mask is not None and bool(mask.any())
                 and _audio_window_s(batch) >= 2 * MIN_SYNC_SHIFT_S)
    if sync and mask is not None and bool(mask.any()) and not with_sync and core.audio_encoder is not None:
        warnings.warn("audio window shorter than 1 s: the sync loss is skipped for this batch", stacklevel=2)
    caption_ids = None
    if captions and core.caption is not None and any(batch.get("caption") or []):
        caption_ids = core.caption_targets(list(batch["caption"])).to(batch["video"].device)
    inputs = {k: batch[k] for k in MULTIMODAL_INPUTS if k in batch}
    if with_sync:
        inputs = make_sync_pairs(inputs, min_shift_s=MIN_SYNC_SHIFT_S)
        if caption_ids is not None:
            caption_ids = torch.cat([caption_ids, caption_ids])
    sync_label = inputs.pop("sync_label", None)
    inputs.pop("sync_shift_s", None)
    out = model(caption_ids=caption_ids, **inputs)
    caption_logits = out.get("caption_logits")
    pad_id = getattr(core.caption, "pad_id", 0) if core.caption is not None else 0
    return TaskOutputs(
        logits=out["logits"][:b],
        labels=batch["label"],
        caption_logits=None if caption_logits is None else caption_logits[:b],
        caption_ids=None if caption_ids is None else caption_ids[:b],
        caption_pad_id=int(pad_id if pad_id is not None else 0),
        sync_logits=out["sync_logits"] if with_sync else None,
        sync_labels=None if sync_label is None else sync_label.to(out["sync_logits"].device),
        sync_mask=inputs["audio_mask"] if with_sync else None,
    )


@torch.no_grad()
def topk_correct(logits: Tensor, labels: Tensor, ks: tuple[int, ...] = (1, 5)) -> dict[int, Tensor]:
    """Per-sample hit (bool, shape (B,)) for each k (k capped at the class count)."""
    maxk = min(max(ks), logits.shape[-1])
    top = logits.topk(maxk, dim=-1).indices
    hits = top.eq(labels.view(-1, 1))
    return {k: hits[:, : min(k, maxk)].any(dim=-1) for k in ks}


@torch.no_grad()
def sync_correct(out: TaskOutputs) -> Tensor | None:
    """Per-row hit of the sync head (logit > 0 ⇔ aligned), rows without audio dropped."""
    if out.sync_logits is None or out.sync_labels is None:
        return None
    hit = (out.sync_logits.float() > 0).eq(out.sync_labels > 0.5)
    return hit[out.sync_mask] if out.sync_mask is not None else hit
