"""Datasets for the notebook series: HMDB51 splits, Kinetics-style annotated clips,
clip-consistent transforms, failure-tolerant batching, DataLoader defaults, and the
decoded-clip and index caches.

Names are loaded lazily, so ``import helpers.datasets`` costs nothing until used::

    from helpers.datasets import HMDB51, make_loader
"""
from __future__ import annotations

from helpers._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "read_split": "splits", "split_counts": "splits", "total_counts": "splits",
    "split_table": "splits", "SplitFormatError": "splits",
    "HMDB51": "hmdb51", "MissingClipsError": "hmdb51",
    "KineticsStyle": "kinetics", "AnnotationError": "kinetics", "read_annotations": "kinetics",
    "VideoClipDataset": "base", "ClipRecord": "base", "ClipLoadError": "base",
    "ClipTransform": "transforms", "train_preset": "transforms", "eval_preset": "transforms",
    "three_crop": "transforms", "denormalize": "transforms",
    "KINETICS_MEAN": "transforms", "KINETICS_STD": "transforms",
    "collate_clips": "collate", "FailedItem": "collate", "FailureLog": "collate",
    "make_loader": "loader", "ClipLoader": "loader",
    "ClipCache": "cache", "ClipIndex": "index", "ClipInfo": "index",
    "ensure_demo_data": "prepare", "DemoData": "prepare",
    "compare_load_times": "timing", "batch_shapes": "collate", "broken_clip_folder": "prepare",
    "summarize_index": "index",
    "plot_frame_strips": "plots", "plot_audio": "plots", "plot_load_times": "plots",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
