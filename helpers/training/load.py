"""The seed notebook's behaviour: use ``models/<model>_split<N>_best.pth`` when it is
there, otherwise train and write it; ``force=True`` retrains.

A damaged checkpoint is an error (:class:`~helpers.training.checkpoint.CheckpointError`
naming the file), never a silent retrain over it: the file may be the only copy of
hours of GPU time. Retrain deliberately with ``force=True``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from helpers.settings import Settings, get_settings
from helpers.training.checkpoint import load_checkpoint
from helpers.training.config import TrainConfig


@dataclass
class LoadOrTrainResult:
    """The model (eval mode, on CPU) and where it came from."""

    model: nn.Module
    checkpoint: Path
    trained: bool  # False: loaded from an existing checkpoint
    best_val_acc: float
    best_epoch: int
    epochs: int
    history: list[dict[str, Any]] = field(default_factory=list)
    class_names: list[str] = field(default_factory=list)
    run_dir: Path | None = None
    trainer: Any = field(default=None, repr=False)  # the Trainer, when this call trained

    def summary(self) -> dict[str, Any]:
        return {"best_val_acc": round(self.best_val_acc, 6), "best_epoch": self.best_epoch, "epochs": self.epochs,
                "checkpoint": str(self.checkpoint), "trained": self.trained,
                "run_dir": None if self.run_dir is None else str(self.run_dir)}


def checkpoint_path(model: str, split: int, models_dir: str | Path | None = None) -> Path:
    """``<models_dir>/<model>_split<N>_best.pth`` (models_dir defaults to settings')."""
    base = Path(models_dir) if models_dir is not None else get_settings().models_dir
    return base / f"{model}_split{split}_best.pth"


def load_or_train(
    model: str = "moe",
    split: int = 1,
    *,
    config: TrainConfig | None = None,
    data: str | Path | None = None,
    force: bool = False,
    resume: bool = True,
    callbacks: Sequence[Any] = (),
    settings: Settings | None = None,
    models_dir: str | Path | None = None,
    accelerator: Any = None,
) -> LoadOrTrainResult:
    """Load the best checkpoint of ``model`` for ``split``, or train it (see module docstring).

    Training writes its run (``last.pth``, history, …) to ``<runs_dir>/<model>_split<N>``
    and the best weights to the checkpoint path; ``resume`` continues an interrupted
    run from its ``last.pth``.
    """
    from helpers.training.experiment import build_experiment, model_from_checkpoint
    from helpers.training.trainer import Trainer

    s = settings or get_settings()
    path = checkpoint_path(model, split, models_dir if models_dir is not None else s.models_dir)
    if path.exists() and not force:
        state = load_checkpoint(path)
        metrics_best = state.get("best_metric")
        print(f"loaded {path} (best val acc {float(metrics_best or 0):.1%} at epoch {state.get('best_epoch')}); "
              "pass force=True (--force) to retrain")
        return LoadOrTrainResult(
            model=model_from_checkpoint(state), checkpoint=path, trained=False,
            best_val_acc=float(metrics_best or 0.0), best_epoch=int(state.get("best_epoch", 0)),
            epochs=int(state["epoch"]), history=list(state.get("history", [])),
            class_names=list(state.get("class_names", [])),
        )
    cfg = config or (TrainConfig.smoke(model, split=split) if s.smoke else TrainConfig.full(model, split=split))
    if cfg.model != model or cfg.split != split:
        cfg = cfg.with_(model=model, split=split)
    exp = build_experiment(cfg, data, s)
    for note in exp.notes:
        print(note)
    run_dir = s.runs_dir / f"{model}_split{split}"
    if force and (run_dir / "last.pth").exists():
        (run_dir / "last.pth").unlink()  # retrain from scratch, not from the old run
    trainer = Trainer(exp.model, cfg, exp.train_loader, exp.val_loader, run_dir=run_dir, best_path=path,
                      class_names=exp.class_names, model_config=exp.model_config, callbacks=callbacks,
                      device=None if accelerator is not None else s.device, accelerator=accelerator)
    result = trainer.fit(resume=resume)
    best = model_from_checkpoint(load_checkpoint(path)) if path.exists() else trainer.core.cpu().eval()
    return LoadOrTrainResult(
        model=best, checkpoint=path, trained=True, best_val_acc=result.best_val_acc,
        best_epoch=result.best_epoch, epochs=result.epochs, history=result.history,
        class_names=exp.class_names, run_dir=run_dir, trainer=trainer,
    )
