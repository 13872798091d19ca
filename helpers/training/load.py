"""Load or train, safe to repeat: ``models/<model>_split<N>_best.pth``
is loaded when its run finished on the same data, an unfinished run is resumed from its
``last.pth``, and otherwise the model is trained.

* Data: every checkpoint records what it was trained on
  (:mod:`helpers.training.provenance`). A checkpoint or run of other data is never
  loaded or resumed: it is named, and the model for this data is trained beside it as
  ``<model>_split<N>_<data>_best.pth`` (run folder ``<model>_split<N>_<data>``).
* ``force=True`` retrains, but writes the new run's best to its run folder and replaces
  the existing checkpoint only once the new run has finished.
* One writer: the checkpoint and the run folder are locked (:mod:`helpers.training.lock`).

A damaged checkpoint is an error (:class:`~helpers.training.checkpoint.CheckpointError`
naming the file), never a silent retrain over it: the file may be the only copy of
hours of GPU time. Retrain deliberately with ``force=True``.
"""
from __future__ import annotations

import contextlib
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from torch import nn

from helpers.settings import Settings, get_settings
from helpers.training.checkpoint import CheckpointError, load_checkpoint, save_checkpoint
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
    finished: bool = True  # the run behind the checkpoint completed (see helpers.training.trainer)
    resumed: bool = False  # this call continued an interrupted run
    data: dict[str, Any] = field(default_factory=dict)  # what it was trained on (provenance.data_record)

    def summary(self) -> dict[str, Any]:
        return {"best_val_acc": round(self.best_val_acc, 6), "best_epoch": self.best_epoch, "epochs": self.epochs,
                "checkpoint": str(self.checkpoint), "trained": self.trained, "resumed": self.resumed,
                "finished": self.finished, "run_dir": None if self.run_dir is None else str(self.run_dir),
                "data": self.data.get("dir")}


def checkpoint_path(model: str, split: int, models_dir: str | Path | None = None) -> Path:
    """``<models_dir>/<model>_split<N>_best.pth`` (models_dir defaults to settings')."""
    base = Path(models_dir) if models_dir is not None else get_settings().models_dir
    return base / f"{model}_split{split}_best.pth"


@dataclass(frozen=True)
class Slot:
    """Where one model of one split on one dataset lives: its checkpoint and run folder."""

    best: Path
    run_dir: Path

    @property
    def last(self) -> Path:
        return self.run_dir / "last.pth"


def find_slot(model: str, split: int, models_dir: Path, runs_dir: Path,
              record: dict[str, Any]) -> tuple[Slot, str | None]:
    """The usual slot, unless its checkpoint or run was trained on other data: then the
    slot named after this data, with the line that says so (nothing loaded from the other)."""
    from helpers.training.provenance import compare, data_tag, describe

    name = f"{model}_split{split}"
    usual = Slot(models_dir / f"{name}_best.pth", runs_dir / name)
    for path in (usual.best, usual.last):
        if path.is_file():
            state = load_checkpoint(path, mmap=True)  # only its data record is read
            if compare(state, record) == "other":
                beside = Slot(models_dir / f"{name}_{data_tag(record)}_best.pth", runs_dir / f"{name}_{data_tag(record)}")
                return beside, (f"{path} was trained on other data ({describe(state)}); this data is {record['dir']}: "
                                f"using {beside.best} for it (delete or move {path} to use that name instead)")
    return usual, None


def choose_slot(model: str, split: int, models_dir: Path, runs_dir: Path, record: dict[str, Any]) -> Slot:
    """:func:`find_slot`, saying in one line when it is not the usual one."""
    slot, note = find_slot(model, split, models_dir, runs_dir, record)
    if note:
        print(note)
    return slot


def default_checkpoint(model: str = "moe", split: int = 1, models_dir: str | Path | None = None, *,
                       data: str | Path | None = None, settings: Settings | None = None) -> Path:
    """The checkpoint notebook 04 writes for ``model`` on ``data`` (default: the active
    dataset): ``<model>_split<N>_best.pth``, or the one beside it named after the data
    when that one holds a model of other data (stand-in first, HMDB51 later). The usual
    name when the data cannot be read; nothing is generated or trained here."""
    from helpers.training.provenance import data_record

    s = settings or get_settings()
    usual = checkpoint_path(model, split, models_dir if models_dir is not None else s.models_dir)
    try:
        if data is None:
            from helpers.datasets import ensure_demo_data

            demo = ensure_demo_data(s, generate_if_missing=False)
            data = demo.hmdb51_dir if model == "moe" else demo.kinetics_dir
        record = data_record(TrainConfig(model=model, split=split), Path(data))  # type: ignore[arg-type]
    except (OSError, ValueError):  # no active dataset (FileNotFoundError, DatasetNotReady) or unreadable
        return usual
    return find_slot(model, split, usual.parent, s.runs_dir, record)[0].best


TRAINING_NOTEBOOK = "notebooks/04_training.ipynb"


def missing_model(path: str | Path) -> str:
    """What every loader says when a trained model is not where it looks."""
    return f"{path}: no trained model here — run {TRAINING_NOTEBOOK} (or python -m helpers train) first"


def load_trained(path: str | Path) -> tuple[nn.Module, dict[str, Any]]:
    """The model a training checkpoint holds, rebuilt as it was trained (eval mode, on
    the CPU; never downloads), and the checkpoint (memory-mapped). A missing file raises
    ``FileNotFoundError`` (:func:`missing_model`); a damaged or foreign one
    :class:`~helpers.training.checkpoint.CheckpointError`. Every other file the series
    writes (notebook 06's): :func:`helpers.inference.load_predictor`."""
    from helpers.training.experiment import model_from_checkpoint

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(missing_model(path))
    state = load_checkpoint(path, mmap=True)
    return model_from_checkpoint(state).eval(), state


def config_changes(saved: dict[str, Any], asked: TrainConfig) -> list[str]:
    """``key=saved→asked`` for the settings that shape a model, where they differ."""
    ignore = {"progress", "num_workers", "clip_cache", "max_train_batches", "max_steps"}
    wanted = asked.to_dict()
    out = []
    for key, value in wanted.items():
        old = saved.get(key)
        if key in ignore or key not in saved:
            continue
        if (list(old) if isinstance(old, (list, tuple)) else old) != (list(value) if isinstance(value, (list, tuple)) else value):
            out.append(f"{key}={old!r}→{value!r}")
    return out


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
    """Load the finished model of ``model`` for ``split`` on ``data``, resume its
    interrupted run, or train it (see the module docstring). ``resume=False`` never
    continues an interrupted run (a finished checkpoint is still loaded)."""
    from helpers.training.experiment import resolve_data_dir
    from helpers.training.lock import exclusive_all
    from helpers.training.provenance import data_record

    s = settings or get_settings()
    cfg = config or TrainConfig.for_size(model, s.size, split=split)
    if cfg.model != model or cfg.split != split:
        cfg = cfg.with_(model=model, split=split)
    data_dir = resolve_data_dir(cfg, data, s)
    record = data_record(cfg, data_dir)
    base = checkpoint_path(model, split, models_dir if models_dir is not None else s.models_dir).parent
    slot = choose_slot(model, split, base, s.runs_dir, record)
    # under accelerate every process runs this; the main one writes, so it holds the locks
    writer = accelerator is None or bool(accelerator.is_main_process)
    with exclusive_all(slot.best, slot.run_dir) if writer else contextlib.nullcontext():
        return _in_slot(slot, cfg, data_dir, record, s, force=force, resume=resume, callbacks=callbacks,
                        accelerator=accelerator)


def _loaded(path: Path, state: dict[str, Any], cfg: TrainConfig, record: dict[str, Any]) -> LoadOrTrainResult:
    from helpers.training.experiment import model_from_checkpoint

    best = float(state.get("best_metric") or 0.0)
    finished = bool(state.get("finished", True))
    status = "finished" if finished else f"unfinished: {state['epoch']} of {state['config'].get('epochs')} epochs"
    changes = config_changes(state.get("config", {}), cfg)
    asked = f"; this call asks {', '.join(changes[:4])}" if changes else ""
    print(f"loaded {path} (best val acc {best:.1%} at epoch {state.get('best_epoch')}, {status}{asked}); "
          "pass force=True (--force) to retrain")
    return LoadOrTrainResult(
        model=model_from_checkpoint(state), checkpoint=path, trained=False, best_val_acc=best,
        best_epoch=int(state.get("best_epoch", 0)), epochs=int(state["epoch"]),
        history=list(state.get("history", [])), class_names=list(state.get("class_names", [])),
        finished=finished, data=dict(state.get("data") or record),
    )


def _in_slot(slot: Slot, cfg: TrainConfig, data_dir: Path, record: dict[str, Any], s: Settings, *, force: bool,
             resume: bool, callbacks: Sequence[Any], accelerator: Any) -> LoadOrTrainResult:
    """Load, resume or train in ``slot`` (its locks held)."""
    from helpers.training.experiment import build_experiment, model_from_checkpoint
    from helpers.training.trainer import Trainer

    best_state = load_checkpoint(slot.best, mmap=True) if slot.best.is_file() else None
    last_state = load_checkpoint(slot.last, mmap=True) if slot.last.is_file() else None
    resuming = bool(resume and not force and last_state is not None and not last_state.get("finished", True))
    if best_state is not None and not force and not resuming:
        return _loaded(slot.best, best_state, cfg, record)
    if resuming:
        ours = best_state is None or best_state.get("run_id") == last_state.get("run_id")  # type: ignore[union-attr]
    else:
        ours = best_state is None
    # a run that is not the one behind the existing checkpoint keeps its best in its run
    # folder until it finishes (--force never replaces a checkpoint with a half-trained one)
    best_path = slot.best if ours else slot.run_dir / "best.pth"
    exp = build_experiment(cfg, data_dir, s)
    for note in exp.notes:
        print(note)
    trainer = Trainer(exp.model, cfg, exp.train_loader, exp.val_loader, run_dir=slot.run_dir, best_path=best_path,
                      class_names=exp.class_names, model_config=exp.model_config, callbacks=callbacks,
                      device=None if accelerator is not None else s.device, accelerator=accelerator, data=record)
    try:
        result = trainer.fit(resume=resuming)
    except RuntimeError as exc:
        if resuming and ("size mismatch" in str(exc) or "state_dict" in str(exc)):
            raise CheckpointError(slot.last, "written by a run of another model or training configuration; pass "
                                  "--no-resume (resume=False) to start this run over") from None
        raise
    trainer.release()  # its optimizer state is in last.pth; the model below is read back from the file
    if result.finished and best_path != slot.best and best_path.is_file() and trainer.is_main:
        save_checkpoint(slot.best, {**load_checkpoint(best_path, mmap=True), "finished": True})
        print(f"{slot.best} replaced by this run's best (val acc {result.best_val_acc:.1%} at epoch {result.best_epoch})")
    elif not result.finished and best_path != slot.best:
        print(f"the run stopped before finishing: its best is in {best_path}; {slot.best} is unchanged")
    source = slot.best if result.finished or best_path == slot.best else best_path
    model = model_from_checkpoint(load_checkpoint(source, mmap=True)) if source.is_file() else trainer.core.cpu().eval()
    return LoadOrTrainResult(
        model=model, checkpoint=source, trained=True, best_val_acc=result.best_val_acc,
        best_epoch=result.best_epoch, epochs=result.epochs, history=result.history,
        class_names=exp.class_names, run_dir=slot.run_dir, trainer=trainer, finished=result.finished,
        resumed=resuming, data=record,
    )
