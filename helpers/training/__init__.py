"""Training for the notebook series: one trainer for both models, load-or-train,
resumable checkpoints, multi-GPU through Hugging Face ``accelerate``, and a CLI.

Names load lazily, so ``import helpers.training`` costs nothing until used::

    from helpers.training import TrainConfig, load_or_train
    result = load_or_train("moe", split=1, config=TrainConfig.smoke("moe"))
"""
from __future__ import annotations

from helpers._lazy import lazy_exports

_EXPORTS: dict[str, str] = {
    "TrainConfig": "config",
    "MultiTaskLoss": "losses", "LossWeights": "losses",
    "build_optimizer": "optim", "build_scheduler": "optim", "param_groups": "optim",
    "save_checkpoint": "checkpoint", "load_checkpoint": "checkpoint", "CheckpointError": "checkpoint",
    "seed_everything": "seed", "capture_rng_state": "seed", "restore_rng_state": "seed",
    "Trainer": "trainer", "TrainResult": "trainer", "Callback": "trainer", "StopTraining": "trainer",
    "evaluate": "trainer",
    "build_model": "experiment", "build_loaders": "experiment", "Experiment": "experiment",
    "load_or_train": "load", "checkpoint_path": "load", "LoadOrTrainResult": "load",
    "train_worker": "distributed", "launch": "distributed",
    "plot_history": "plots", "LivePlot": "plots",
}

__all__ = sorted(_EXPORTS)


__getattr__ = lazy_exports(__name__, _EXPORTS, globals())
