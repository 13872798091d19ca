"""``evaluate_model_comprehensive``: one pass over a test loader → every number notebook
07 reports for a classifier. Classification metrics come from scikit-learn (so they
agree with it by construction); top-k caps k at the number of classes; size, FLOPs and
parameters reuse :mod:`helpers.models.summary`; latency is :mod:`.latency`'s.
"""
from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import torch
from torch import nn

from helpers.measure import LatencyStats, count_flops, count_parameters, in_memory_size_mb, measure_latency
from helpers.settings import within_budget


def topk_accuracy(scores: np.ndarray, labels: np.ndarray, k: int) -> float:
    """Share of rows whose label is among the ``k`` highest scores; ``k`` larger than
    the number of classes counts every row as a hit (all classes are "in the top k")."""
    scores = np.asarray(scores)
    labels = np.asarray(labels)
    if scores.ndim != 2 or len(scores) != len(labels):
        raise ValueError(f"scores must be (N, C) with N = len(labels); got {scores.shape} and {labels.shape}")
    if len(labels) == 0:
        return float("nan")
    k = min(int(k), scores.shape[1])
    top = np.argsort(-scores, axis=1, kind="stable")[:, :k]
    return float((top == labels[:, None]).any(axis=1).mean())


def classification_metrics(labels: Sequence[int], scores: np.ndarray, class_names: Sequence[str] | None = None,
                           ) -> dict[str, Any]:
    """Top-1/top-5, macro and weighted precision/recall/F1, per-class accuracy (= recall),
    the classification report (dict and text) and the confusion matrix (rows: truth)."""
    from sklearn.metrics import classification_report, confusion_matrix, precision_recall_fscore_support

    labels = np.asarray(labels, dtype=np.int64)
    scores = np.asarray(scores, dtype=np.float64)
    n_classes = scores.shape[1]
    names = list(class_names) if class_names is not None else [str(i) for i in range(n_classes)]
    if len(names) != n_classes:
        raise ValueError(f"{len(names)} class names for {n_classes} score columns")
    preds = scores.argmax(axis=1)
    all_labels = list(range(n_classes))
    out: dict[str, Any] = {"top1": topk_accuracy(scores, labels, 1), "top5": topk_accuracy(scores, labels, 5),
                           "num_samples": int(len(labels)), "num_classes": n_classes}
    for avg in ("macro", "weighted"):
        p, r, f, _ = precision_recall_fscore_support(labels, preds, labels=all_labels, average=avg, zero_division=0)
        out.update({f"precision_{avg}": float(p), f"recall_{avg}": float(r), f"f1_{avg}": float(f)})
    cm = confusion_matrix(labels, preds, labels=all_labels)
    support = cm.sum(axis=1)
    with np.errstate(invalid="ignore", divide="ignore"):
        per_class = np.where(support > 0, np.diag(cm) / np.maximum(support, 1), np.nan)
    out["per_class_accuracy"] = {name: float(a) for name, a in zip(names, per_class)}
    out["confusion_matrix"] = cm
    out["report"] = classification_report(labels, preds, labels=all_labels, target_names=names, zero_division=0,
                                          output_dict=True)
    out["report_text"] = classification_report(labels, preds, labels=all_labels, target_names=names,
                                               zero_division=0, digits=3)
    return out


@dataclass
class Collected:
    """Per-clip outputs of one pass over a loader."""

    scores: np.ndarray  # (N, C) softmax probabilities
    labels: np.ndarray  # (N,)
    paths: list[str]
    thumbnails: np.ndarray | None  # uint8 (M, H, W, 3): middle frame of the first M clips
    example_inputs: dict[str, torch.Tensor]  # one clip, for FLOPs and latency


def _thumbnail(video: torch.Tensor) -> np.ndarray:
    """Middle frame of normalised (3, T, H, W) clips → uint8 (H, W, 3)."""
    from helpers.datasets import denormalize

    frames = np.asarray(denormalize(video.detach().float().cpu()))
    return frames[len(frames) // 2]


@torch.inference_mode()
def collect_predictions(model: nn.Module, dataloader: Iterable[dict], device: str = "cpu",
                        max_thumbnails: int = 16, progress: bool = False) -> Collected:
    """Softmax scores and labels of every clip the loader yields (either model kind)."""
    from tqdm.auto import tqdm

    from helpers.models import clip_inputs
    from helpers.training.tasks import task_outputs

    model.eval()
    if isinstance(model, nn.Module):
        model.to(device)
    scores, labels, paths, thumbs = [], [], [], []
    example: dict[str, torch.Tensor] = {}
    for batch in tqdm(itertools.islice(dataloader, within_budget(None)), desc="evaluating", disable=not progress,
                      leave=False):  # the step budget caps evaluated batches
        batch = {k: v.to(device) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}
        if not example:
            example = {k: v.cpu() for k, v in clip_inputs(model, batch, 1).items()}
        out = task_outputs(model, batch, sync=False, captions=False)
        scores.append(torch.softmax(out.logits.float(), dim=-1).cpu().numpy())
        labels.append(batch["label"].cpu().numpy())
        paths += list(batch.get("path") or [""] * len(batch["label"]))
        for v in batch["video"][: max(0, max_thumbnails - len(thumbs))]:
            thumbs.append(_thumbnail(v))
    if not scores:
        raise ValueError("the dataloader yielded no batches")
    return Collected(np.concatenate(scores), np.concatenate(labels), paths,
                     np.stack(thumbs) if thumbs else None, example)


@dataclass
class EvaluationResult:
    """Everything :func:`evaluate_model_comprehensive` measured."""

    metrics: dict[str, Any]
    params: int | None  # None: not a PyTorch module (an ONNX Runtime session)
    size_mb: float | None
    flops_per_clip: float | None
    latency: LatencyStats | None
    scores: np.ndarray
    labels: np.ndarray
    class_names: list[str]
    paths: list[str] = field(default_factory=list)
    thumbnails: np.ndarray | None = None

    @property
    def predictions(self) -> np.ndarray:
        return self.scores.argmax(axis=1)

    @property
    def confidences(self) -> np.ndarray:
        return self.scores.max(axis=1)

    def summary(self) -> dict[str, Any]:
        """The scalar figures, one flat dict (a row of the comparison table)."""
        keys = ("top1", "top5", "precision_macro", "recall_macro", "f1_macro", "precision_weighted",
                "recall_weighted", "f1_weighted", "num_samples")
        row: dict[str, Any] = {k: self.metrics[k] for k in keys}
        row.update(params=self.params, size_mb=None if self.size_mb is None else round(self.size_mb, 3),
                   gflops_per_clip=None if self.flops_per_clip is None else self.flops_per_clip / 1e9)
        if self.latency is not None:
            row.update(latency_mean_ms=self.latency.mean_ms, latency_median_ms=self.latency.median_ms,
                       latency_p95_ms=self.latency.p95_ms, throughput_clips_per_s=self.latency.throughput)
        return row


def evaluate_model_comprehensive(model: Any, dataloader: Iterable[dict], device: str = "cpu", *,
                                 class_names: Sequence[str] | None = None, latency_runs: int = 10,
                                 warmup: int = 3, flops: bool = True, max_thumbnails: int = 16,
                                 progress: bool = False) -> EvaluationResult:
    """Top-1/top-5, macro/weighted P/R/F1, classification report, confusion matrix,
    per-class accuracy, parameters, size (MB), FLOPs per clip and per-clip latency
    (mean/median/p95 over ``latency_runs`` after ``warmup``; ``latency_runs=0`` skips
    it) with throughput, on a loader of the Batches contract. ``model``: a module, or what
    :func:`helpers.inference.load_predictor` opened from any file the series writes
    (TorchScript, int8, an ONNX Runtime session: parameters and size then None)."""
    got = collect_predictions(model, dataloader, device, max_thumbnails=max_thumbnails, progress=progress)
    names = list(class_names) if class_names is not None else list(
        getattr(getattr(dataloader, "dataset", None), "classes", None) or [str(i) for i in range(got.scores.shape[1])])
    metrics = classification_metrics(got.labels, got.scores, names)
    inputs = {k: v.to(device) for k, v in got.example_inputs.items()}
    n_flops = None
    module = isinstance(model, nn.Module)
    if flops and not module:
        metrics["flops_note"] = f"FLOPs not counted ({type(model).__name__} is not a PyTorch module)"
    elif flops:
        try:
            n_flops = float(count_flops(model, inputs))
        except Exception as exc:  # quantized/scripted models: FlopCounterMode cannot see inside
            metrics["flops_note"] = f"FLOPs not counted ({type(exc).__name__})"
    latency = measure_latency(model, inputs, device, warmup=warmup, runs=latency_runs) if latency_runs > 0 else None
    return EvaluationResult(metrics=metrics, params=count_parameters(model) if module else None,
                            size_mb=in_memory_size_mb(model) if module else None,
                            flops_per_clip=n_flops, latency=latency, scores=got.scores, labels=got.labels,
                            class_names=names, paths=got.paths, thumbnails=got.thumbnails)
