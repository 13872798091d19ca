"""What one training run does, as one dataclass saved with every checkpoint.

``TrainConfig.smoke(model)``, ``TrainConfig.demo(model)`` and ``TrainConfig.full(model)``
are presets: smoke and demo only shrink sizes (frames, pixels, epochs, batch) and keep the
code path. ``TrainConfig.for_size(model)`` picks the one of the active size
(:func:`helpers.settings.size`); each preset builds what its name says. Defaults follow
torchvision's ``references/video_classification`` where it has one (warmup, cosine,
AMP, label smoothing off, clip length 16, 112 px crops from 128×171).
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, fields, replace
from typing import Any, Literal

ModelName = Literal["moe", "multimodal"]
MODELS: tuple[str, ...] = ("moe", "multimodal")


@dataclass
class TrainConfig:
    """Knobs of a run. See the module docstring for the presets."""

    model: ModelName = "moe"
    split: int = 1  # HMDB51 split (1, 2, 3); names the checkpoint for both models
    epochs: int = 30
    batch_size: int = 16
    # --- data
    num_frames: int = 16
    resize: tuple[int, int] = (128, 171)
    crop: int = 112
    hflip_prob: float | None = None  # None: 0.5, but 0 on the generated data (direction classes)
    train_sampler: Literal["auto", "uniform", "segment", "dense"] = "auto"
    num_workers: int | None = None  # None: one per CPU minus one
    clip_cache: Literal["off", "disk", "memory"] = "off"  # memory: whole items (fixed crops), small data only
    max_train_batches: int | None = None  # cap per epoch (benchmarks, quick checks)
    max_steps: int | None = None  # optimiser steps in all; HELPERS_MAX_STEPS lowers it (helpers.settings.step_budget)
    # --- optimisation
    lr: float = 1e-3
    backbone_lr_mult: float = 0.1  # pretrained backbone learns slower (1.0 from random init)
    weight_decay: float = 1e-4
    scheduler: Literal["cosine", "plateau", "constant"] = "cosine"
    warmup_epochs: float = 1.0
    min_lr_ratio: float = 0.01
    plateau_factor: float = 0.5
    plateau_patience: int = 2
    grad_clip: float | None = 1.0
    accum_steps: int = 1
    # the most clips one forward/backward holds: larger batches are split and their
    # gradients summed, the same optimiser step in less memory; None: HELPERS_MICRO_BATCH
    micro_batch: int | None = None
    amp: Literal["auto", "bf16", "fp16", "off"] = "auto"  # auto: bf16 where supported, else fp16; off on CPU
    # --- losses
    label_smoothing: float = 0.0
    mixup_alpha: float = 0.0  # > 0: mixup of training clips, λ ~ Beta(a, a) (video-only models; see .mixup)
    cls_weight: float = 1.0
    caption_weight: float = 1.0  # multimodal only: a caption token weighs as much as the class
    sync_weight: float = 0.5  # multimodal only (needs audio)
    aux_weight: float = 1.0  # the MoE's load-balancing loss (already scaled by its alpha)
    # --- control
    early_stopping_patience: int | None = 5
    # which epoch best.pth keeps: the best validation top-1, the lowest validation loss
    # over every task the model trains (classification, captions, sync), or the last one.
    # None: "last" for the multi-modal model, whose caption decoder and sync head keep
    # learning after its classifier peaks (its best-top-1 epoch can come before they learn
    # anything); "val_acc" otherwise. With "last" nothing stops early.
    keep_weights: Literal["val_acc", "val_loss", "last"] | None = None
    min_delta: float = 0.0
    seed: int = 0
    deterministic: bool = False
    progress: bool = True
    model_overrides: dict[str, Any] = field(default_factory=dict)  # passed to the model config preset
    model_preset: Literal["smoke", "full"] = "full"

    def __post_init__(self) -> None:
        if self.model not in MODELS:
            raise ValueError(f"model must be one of {MODELS}, got {self.model!r}")
        if self.split not in (1, 2, 3):
            raise ValueError(f"split must be 1, 2 or 3, got {self.split}")
        if self.accum_steps < 1 or self.batch_size < 1 or self.epochs < 0:
            raise ValueError("accum_steps and batch_size must be ≥ 1, epochs ≥ 0")
        if isinstance(self.resize, list):
            self.resize = tuple(self.resize)
        if self.keep_weights is None:
            self.keep_weights = "last" if self.model == "multimodal" else "val_acc"
        if self.keep_weights not in ("val_acc", "val_loss", "last"):
            raise ValueError(f"keep_weights must be 'val_acc', 'val_loss' or 'last', got {self.keep_weights!r}")

    @classmethod
    def full(cls, model: ModelName = "moe", **overrides: Any) -> "TrainConfig":
        """The real run (GPU): 16 frames at 112 px, 30 epochs, full-size models."""
        values: dict[str, Any] = dict(model=model)
        if model == "multimodal":
            values.update(batch_size=8, lr=3e-4, num_frames=16)
        values.update(overrides)
        return cls(**values)

    @classmethod
    def smoke(cls, model: ModelName = "moe", **overrides: Any) -> "TrainConfig":
        """Minutes on a CPU: 8 frames at 32 px (decoded at 36×48), tiny models, a few
        epochs, decoded clips kept in memory (uniform sampling, fixed crops)."""
        values: dict[str, Any] = dict(
            model=model, epochs=2, batch_size=8, num_frames=8, resize=(36, 48), crop=32,
            train_sampler="uniform", num_workers=0, clip_cache="memory", warmup_epochs=0.0,
            backbone_lr_mult=1.0, early_stopping_patience=None, progress=False, model_preset="smoke",
            amp="off",
            # moe: R(2+1)D at a quarter of its width (same network, ~16x fewer FLOPs) —
            # the full width learns too slowly on a CPU for a smoke run (see the report
            # in tests/test_training_learning.py)
            model_overrides={"backbone_width": 16} if model == "moe" else {},
        )
        values.update(overrides)
        return cls(**values)

    @classmethod
    def demo(cls, model: ModelName = "moe", **overrides: Any) -> "TrainConfig":
        """For a CPU without a GPU (``make run``): the smoke models and pixels, long enough
        to learn the demo-size generated dataset: more epochs, a warmup, and the MoE at
        16 frames (8 miss too many of the short events in its 6-s clips)."""
        values: dict[str, Any] = dict(epochs=15 if model == "moe" else 6, warmup_epochs=1.0,
                                      num_frames=16 if model == "moe" else 8)
        values.update(overrides)
        return cls.smoke(model, **values)

    @classmethod
    def for_size(cls, model: ModelName = "moe", size: str | None = None, **overrides: Any) -> "TrainConfig":
        """The preset of ``size`` (default: the active size, :func:`helpers.settings.size`)."""
        from helpers.settings import chosen_size

        return getattr(cls, chosen_size(size))(model, **overrides)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_dict(cls, data: dict[str, Any]) -> "TrainConfig":
        """Rebuild from :meth:`to_dict` (unknown keys from newer versions are ignored)."""
        names = {f.name for f in fields(cls)}
        return cls(**{k: v for k, v in data.items() if k in names})

    def with_(self, **changes: Any) -> "TrainConfig":
        return replace(self, **changes)
