"""The multi-modal model's extra figures: captioning BLEU-4 and CIDEr, audio-visual
sync detection accuracy and ROC AUC, and the muted batch its video-only answer needs.

BLEU-4 and CIDEr come from ``pycocoevalcap`` (the COCO caption evaluation code, pure
Python for these two metrics; only its PTB tokenizer, METEOR and SPICE need Java, and
none of those is used). Captions are tokenised here instead of by the Java PTB
tokenizer: lower-cased, punctuation dropped — the same split the model's
``WordTokenizer`` uses. CIDEr's document frequencies come from the evaluated set's
references (as in the COCO code), so it is only comparable between runs on one set.

:func:`caption_comparison` scores the model's captions beside the two baselines of
:mod:`helpers.evaluation.caption_baselines` on the same references: the one computation
behind ``benchmarks/multimodal.py`` and notebook 07's table.
"""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from helpers.settings import within_budget

_WORD = re.compile(r"[a-z0-9]+(?:'[a-z]+)?")


def _tokens(text: str) -> str:
    return " ".join(_WORD.findall(text.lower()))


def caption_scores(references: Mapping[Any, Sequence[str]] | Sequence[Sequence[str] | str],
                   hypotheses: Mapping[Any, str] | Sequence[str]) -> dict[str, float]:
    """``{"bleu4": …, "cider": …}`` (plus BLEU-1..3) of ``hypotheses`` against
    ``references`` (several references per item allowed). Sequences are matched by
    position, mappings by key."""
    from pycocoevalcap.bleu.bleu import Bleu
    from pycocoevalcap.cider.cider import Cider

    if not isinstance(references, Mapping):
        references = {i: r for i, r in enumerate(references)}
    if not isinstance(hypotheses, Mapping):
        hypotheses = {i: h for i, h in enumerate(hypotheses)}
    if set(references) != set(hypotheses):
        raise ValueError("references and hypotheses must cover the same items")
    if not references:
        raise ValueError("no captions to score")
    refs = {k: [_tokens(r) for r in ([v] if isinstance(v, str) else v)] for k, v in references.items()}
    hyps = {k: [_tokens(hypotheses[k]) or "<empty>"] for k in references}
    bleu, _ = Bleu(4).compute_score(refs, hyps, verbose=0)
    cider, _ = Cider().compute_score(refs, hyps)
    return {"bleu1": float(bleu[0]), "bleu2": float(bleu[1]), "bleu3": float(bleu[2]), "bleu4": float(bleu[3]),
            "cider": float(cider)}


def muted(batch: Mapping[str, Any]) -> dict[str, Any]:
    """A copy of ``batch`` as the Batches contract gives a clip without sound: waveform and
    log-mel zeroed, ``audio_mask`` False (the model then masks the audio out of its
    fusion and pooling, so its answer is its video-only one)."""
    out = dict(batch)
    for key in ("audio", "audio_mel"):
        if isinstance(out.get(key), torch.Tensor):
            out[key] = torch.zeros_like(out[key])
    ref = out.get("video", out.get("frame_features"))
    if isinstance(out.get("audio_mask"), torch.Tensor):
        out["audio_mask"] = torch.zeros_like(out["audio_mask"], dtype=torch.bool)
    elif isinstance(ref, torch.Tensor):
        out["audio_mask"] = torch.zeros(ref.shape[0], dtype=torch.bool, device=ref.device)
    return out


def sync_metrics(labels: Sequence[float] | np.ndarray, logits: Sequence[float] | np.ndarray) -> dict[str, float]:
    """Accuracy (logit > 0 ⇔ aligned) and ROC AUC (scikit-learn) of the sync head."""
    from sklearn.metrics import roc_auc_score

    y = np.asarray(labels, dtype=np.float64) > 0.5
    s = np.asarray(logits, dtype=np.float64)
    if y.shape != s.shape or y.size == 0:
        raise ValueError(f"labels and logits must be equal-length, non-empty; got {y.shape} and {s.shape}")
    auc = float(roc_auc_score(y, s)) if 0 < y.sum() < y.size else float("nan")
    return {"sync_accuracy": float(((s > 0) == y).mean()), "sync_auc": auc, "sync_pairs": int(y.size)}


@torch.inference_mode()
def evaluate_multimodal(model: nn.Module, dataloader: Iterable[dict], device: str = "cpu", *, captions: bool = True,
                        sync: bool = True, max_batches: int | None = None, seed: int = 0) -> dict[str, Any]:
    """Captioning (greedy decoding) and sync detection figures over a loader of the
    Batches contract. Each clip with audio is scored aligned and time-shifted (the
    pairs :func:`helpers.models.make_sync_pairs` makes, with a fixed seed)."""
    from helpers.models import make_sync_pairs
    from helpers.training.tasks import MULTIMODAL_INPUTS

    model.eval().to(device)
    gen = torch.Generator().manual_seed(seed)
    refs: list[str] = []
    hyps: list[str] = []
    sync_y: list[np.ndarray] = []
    sync_s: list[np.ndarray] = []
    max_batches = within_budget(max_batches)
    for i, batch in enumerate(dataloader):
        if max_batches is not None and i >= max_batches:
            break
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        if captions and getattr(model, "caption", None) is not None and any(batch.get("caption") or []):
            hyps += model.generate_captions(batch)
            refs += list(batch["caption"])
        mask = batch.get("audio_mask")
        if sync and mask is not None and bool(mask.any()) and getattr(model, "audio_encoder", None) is not None:
            inputs = {k: batch[k].cpu() for k in MULTIMODAL_INPUTS if k in batch}
            try:
                pairs = make_sync_pairs(inputs, generator=gen)
            except ValueError:  # window too short to shift: no sync figure from this batch
                continue
            label, keep = pairs.pop("sync_label"), pairs["audio_mask"]
            pairs.pop("sync_shift_s")
            out = model(**{k: v.to(device) for k, v in pairs.items()})
            sync_y.append(label[keep].numpy())
            sync_s.append(out["sync_logits"].float().cpu()[keep].numpy())
    result: dict[str, Any] = {}
    if hyps:
        result.update(caption_scores([[r] for r in refs], hyps))
        result["caption_examples"] = list(zip(refs[:5], hyps[:5]))
    if sync_y:
        result.update(sync_metrics(np.concatenate(sync_y), np.concatenate(sync_s)))
    return result


@dataclass
class MultimodalOutputs:
    """What one pass of the multi-modal model over a loader gives, in loader order."""

    labels: np.ndarray
    logits: np.ndarray
    muted_logits: np.ndarray | None
    pooled: np.ndarray
    references: list[str]
    captions: list[str] = field(default_factory=list)  # beam search (or greedy with beam_size=1)
    greedy_captions: list[str] = field(default_factory=list)


@torch.inference_mode()
def multimodal_outputs(model: nn.Module, loader: Iterable[dict], *, muted_pass: bool = True,
                       captions: bool = True, beam_size: int = 3) -> MultimodalOutputs:
    """Logits and pooled features with the audio, logits with the audio muted, the
    reference captions and the model's captions, in loader order: by beam search of
    ``beam_size`` (how captioning results are usually reported) and greedy, both from
    the same forward pass (``beam_size=1``: greedy only). Batches go to the device the
    model's weights are on; the results come back as NumPy arrays."""
    model.eval()
    device = next(model.parameters(), torch.empty(0)).device
    labels, logits, mlogits, pooled, refs, hyps, greedy = [], [], [], [], [], [], []
    for batch in loader:
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        out = model.forward_batch(batch)
        labels.append(batch["label"].cpu().numpy())
        logits.append(out["logits"].float().cpu().numpy())
        pooled.append(out["pooled"].float().cpu().numpy())
        refs += list(batch.get("caption") or [""] * len(batch["label"]))
        if captions:
            greedy += model.captions_from(out)
            hyps += model.captions_from(out, "beam", beam_size) if beam_size > 1 else greedy[-len(out["logits"]):]
        if muted_pass:
            mlogits.append(model.forward_batch(muted(batch))["logits"].float().cpu().numpy())
    return MultimodalOutputs(np.concatenate(labels), np.concatenate(logits),
                             np.concatenate(mlogits) if mlogits else None, np.concatenate(pooled), refs, hyps,
                             greedy)


CAPTION_SOURCES = ("model", "template", "retrieval")


@dataclass
class CaptionComparison:
    """The model's captions beside the two baselines, scored on the same references.

    ``table``: a DataFrame indexed by :data:`CAPTION_SOURCES` with columns ``bleu4`` and
    ``cider``; ``examples``: the first held-out clips with their reference, predicted
    class and the three captions; ``captions``: every caption of each source;
    ``template``: the template baseline's frame (``"<verb>"`` where the class goes);
    ``attributes``: for generated clips, the share of held-out captions of each source
    that name the reference's colour, shape, texture, speed, motion, background pattern
    and colour (:func:`helpers.synth.caption.caption_attributes`), else None."""

    table: Any
    examples: Any
    captions: dict[str, list[str]]
    template: str
    attributes: Any = None

    def figure(self, source: str, metric: str) -> float:
        """One number of the table, e.g. ``figure("retrieval", "cider")``."""
        return float(self.table.loc[source, metric])


def caption_comparison(heldout: MultimodalOutputs, train: MultimodalOutputs, class_names: Sequence[str], *,
                       verbs: Mapping[str, str] | None = None, examples: int = 3) -> CaptionComparison:
    """BLEU-4 and CIDEr of the model's captions on ``heldout`` beside the template
    baseline (the predicted class's verb phrase framed by the commonest words of the
    ``train`` captions) and the retrieval baseline (the ``train`` caption of the nearest
    training clip by cosine of the model's pooled features). ``verbs`` maps each class to
    its verb phrase (default: the generated clips' :data:`helpers.synth.caption.VERBS`).
    A decoder below either baseline has learned nothing a lookup would not give."""
    import pandas as pd

    from helpers.evaluation.caption_baselines import TemplateCaptioner, retrieval_captions

    if not heldout.captions:
        raise ValueError("the held-out outputs hold no model captions: run multimodal_outputs with captions=True")
    if verbs is None:
        from helpers.synth.caption import VERBS as verbs
    predicted = [class_names[i] for i in heldout.logits.argmax(1)]
    unknown = sorted(set(predicted) - set(verbs))
    if unknown:
        raise ValueError(f"no verb phrase for the classes {unknown[:5]}: pass verbs={{class: phrase}}")
    template = TemplateCaptioner.fit(train.references, verbs)
    captions = {"model": list(heldout.captions), "template": [template(c) for c in predicted],
                "retrieval": retrieval_captions(heldout.pooled, train.pooled, train.references)}
    refs = [[r] for r in heldout.references]
    rows = {name: caption_scores(refs, hyps) for name, hyps in captions.items()}
    table = pd.DataFrame({name: {"bleu4": rows[name]["bleu4"], "cider": rows[name]["cider"]}
                          for name in CAPTION_SOURCES}).T.rename_axis("captions")
    shown = pd.DataFrame({"reference": heldout.references[:examples], "predicted class": predicted[:examples],
                          **{name: captions[name][:examples] for name in CAPTION_SOURCES}})
    return CaptionComparison(table, shown, captions, " ".join([*template.prefix, "<verb>", *template.suffix]),
                             attribute_accuracy(heldout.references, captions))


def attribute_accuracy(references: Sequence[str], captions: Mapping[str, Sequence[str]]) -> Any:
    """DataFrame (sources × attributes): the share of captions that name the reference's
    word for each attribute of the generated clips; None when the references are not
    captions of generated clips (no colour or shape in them)."""
    import pandas as pd

    from helpers.synth.caption import caption_attributes

    truth = [caption_attributes(r) for r in references]
    if not truth or any(t["colour"] is None or t["shape"] is None for t in truth):
        return None
    keys = list(truth[0])
    return pd.DataFrame({name: {k: sum(caption_attributes(h)[k] == t[k] for h, t in zip(hyps, truth)) / len(truth)
                                for k in keys} for name, hyps in captions.items()}).T.rename_axis("captions")


@dataclass
class AttentionPair:
    """One clip's video→audio cross-attention (rows: frames, columns: audio tokens) with
    its sound and with the audio masked, and the class the model predicts each time."""

    with_audio: torch.Tensor  # (T, S)
    muted: torch.Tensor  # (T, S): zeros, the masked audio is never attended to
    frame_times: torch.Tensor | None  # (T,) seconds, when the batch gives them
    token_seconds: float | None  # seconds one audio token covers
    label: int
    predicted: tuple[int, int]  # (with the sound, audio masked)
    confidence: tuple[float, float]  # softmax probability of each prediction


def _one_clip(batch: Mapping[str, Any], index: int) -> dict[str, Any]:
    """Clip ``index`` of a Batches-contract dict, as a batch of one."""
    size = len(batch["label"])
    return {k: (v[index:index + 1] if isinstance(v, (torch.Tensor, list)) and len(v) == size else v)
            for k, v in batch.items()}


@torch.inference_mode()
def attention_with_and_without_audio(model: nn.Module, batch: Mapping[str, Any], index: int = 0) -> AttentionPair:
    """Run clip ``index`` of ``batch`` through the multi-modal model twice, with its
    sound and :func:`muted`, and keep the last fusion round's video→audio attention of
    each: where in time the frames look in the audio, and what masking it changes."""
    clip = _one_clip(batch, index)
    if "audio_mask" in clip and not bool(clip["audio_mask"].all()):
        raise ValueError(f"clip {index} of the batch has no sound: pick a clip whose audio_mask is True")
    model.eval()
    device = next(model.parameters(), torch.empty(0)).device
    runs = []
    for inputs in (clip, muted(clip)):
        inputs = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in inputs.items()}
        out = model.forward_batch(inputs)
        if out["attention_weights"] is None:
            raise ValueError("the model returned no attention weights: it has no audio encoder or the clip no audio")
        probs = out["logits"].float().softmax(-1)[0].cpu()
        runs.append((out["attention_weights"]["video_to_audio"][0].float().cpu(), int(probs.argmax()),
                     float(probs.max())))
    times = clip.get("frame_times")
    return AttentionPair(runs[0][0], runs[1][0], times[0].float().cpu() if isinstance(times, torch.Tensor) else None,
                         getattr(getattr(model, "audio_encoder", None), "token_seconds", None),
                         int(clip["label"][0]), (runs[0][1], runs[1][1]), (runs[0][2], runs[1][2]))
