"""Notebook 07's evaluation: metrics (:mod:`.metrics`; parameters, sizes and latency
come from :mod:`helpers.measure`), video-level multi-clip testing (:mod:`.video_level`),
captioning and sync metrics for the multi-modal model (:mod:`.multimodal`) and the
caption baselines they are compared with (:mod:`.caption_baselines`), the
comparison of every model on disk (:mod:`.compare`) and the figures (:mod:`.plots`).

Names load lazily so importing the package costs nothing.
"""
from __future__ import annotations

from helpers._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "evaluate_model_comprehensive": "metrics", "EvaluationResult": "metrics",
    "classification_metrics": "metrics", "topk_accuracy": "metrics", "collect_predictions": "metrics",
    "video_level_accuracy": "video_level", "VideoLevelResult": "video_level",
    "caption_scores": "multimodal", "sync_metrics": "multimodal", "evaluate_multimodal": "multimodal",
    "muted": "multimodal", "multimodal_outputs": "multimodal", "MultimodalOutputs": "multimodal",
    "caption_comparison": "multimodal", "CaptionComparison": "multimodal",
    "attention_with_and_without_audio": "multimodal", "AttentionPair": "multimodal",
    "TemplateCaptioner": "caption_baselines", "retrieval_captions": "caption_baselines",
    "discover_models": "compare", "ModelEntry": "compare", "compare_models": "compare",
    "save_comparison": "compare", "plot_comparison": "compare",
    "test_data_for": "data", "TestData": "data",
    "plot_confusion_matrix": "plots", "plot_per_class_accuracy": "plots", "plot_prediction_grid": "plots",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
