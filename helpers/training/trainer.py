"""The training loop both models share.

One epoch: for each batch, :func:`~helpers.training.tasks.task_outputs` → weighted
multi-task loss → backward (AMP on CUDA: bf16 where supported, else fp16 with a grad
scaler; off on CPU) → every ``accum_steps`` batches clip gradients and step AdamW and,
for the cosine schedule, the LR. Then validation (top-1/top-5, sync accuracy), the
history row, checkpoints (``last.pth`` every epoch, ``best.pth`` when validation top-1
improves, or every epoch with ``keep_weights="last"``), callbacks, early stopping.

Order at the end of an epoch matters for resuming: the checkpoint (with every RNG
state) is written *before* the ``on_epoch_end`` callbacks run, so a run killed in a
callback, or any time later, resumes from a complete epoch and continues exactly as
the uninterrupted run would have (see :mod:`helpers.training.seed`).

Multi-GPU: pass an ``accelerate.Accelerator`` (see :mod:`helpers.training.distributed`);
the loop then lets it wrap the model (DDP), shard the loaders, run AMP and reduce the
validation counts, and only the main process writes files.
"""
from __future__ import annotations

import contextlib
import csv
import gc
import itertools
import json
import math
import time
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import torch
from torch import nn

from helpers.heap import trim_heap
from helpers.settings import micro_batch_size, within_budget
from helpers.training.checkpoint import FORMAT, load_checkpoint, package_versions, save_checkpoint
from helpers.training.config import TrainConfig
from helpers.training.losses import LOSS_PARTS, MultiTaskLoss
from helpers.training.mixup import mix_clips, mixup_lambda, mixup_targets
from helpers.training.optim import build_optimizer, build_scheduler
from helpers.training.seed import capture_rng_state, restore_rng_state
from helpers.training.tasks import is_multimodal, sync_correct, task_outputs, topk_correct, unwrap


class StopTraining(Exception):
    """Raise from a callback to end training after this epoch/batch (not an error)."""


class RunInterrupted(KeyboardInterrupt):
    """Ctrl-C (or a kill by SIGINT) during :meth:`Trainer.fit`: where the run stopped.

    A KeyboardInterrupt still (a notebook's interrupt stays one), with the last complete
    epoch and the file a resume continues from, so callers print one line, not a traceback.
    """

    def __init__(self, epoch_done: int, epochs: int, last_checkpoint: Path) -> None:
        self.epoch_done, self.epochs, self.last_checkpoint = epoch_done, epochs, Path(last_checkpoint)
        saved = (f"epoch {epoch_done} is saved in {last_checkpoint}" if epoch_done
                 else "no epoch was complete, nothing saved")
        super().__init__(f"interrupted during epoch {epoch_done + 1}/{epochs}; {saved}")


class Callback:
    """Hooks the loop calls; override what you need. ``info``/``record`` are plain dicts."""

    def on_batch_end(self, trainer: "Trainer", info: dict[str, Any]) -> None:  # noqa: D401
        pass

    def on_epoch_end(self, trainer: "Trainer", record: dict[str, Any]) -> None:
        pass


@dataclass
class TrainResult:
    """What :meth:`Trainer.fit` did. ``best_val_acc`` is a fraction (0–1)."""

    best_val_acc: float
    best_epoch: int
    epochs: int  # epochs finished (including those before a resume)
    stopped_early: bool
    checkpoint: Path  # the best checkpoint
    last_checkpoint: Path
    history: list[dict[str, Any]] = field(default_factory=list)
    run_dir: Path | None = None
    budget_exhausted: bool = False  # ended by the step budget (max_steps / HELPERS_MAX_STEPS)
    finished: bool = False  # all epochs, early stopping or the step budget (not a callback's stop)

    def summary(self) -> dict[str, Any]:
        """JSON-ready: what the CLI prints."""
        return {"best_val_acc": round(self.best_val_acc, 6), "best_epoch": self.best_epoch, "epochs": self.epochs,
                "stopped_early": self.stopped_early, "checkpoint": str(self.checkpoint),
                "last_checkpoint": str(self.last_checkpoint), "run_dir": str(self.run_dir),
                "budget_exhausted": self.budget_exhausted, "finished": self.finished}


def to_device(batch: dict[str, Any], device: torch.device) -> dict[str, Any]:
    non_blocking = device.type == "cuda"
    return {k: v.to(device, non_blocking=non_blocking) if isinstance(v, torch.Tensor) else v for k, v in batch.items()}


def amp_dtype(device: torch.device, mode: str) -> torch.dtype | None:
    """bf16/fp16 autocast dtype for CUDA, fp16 for MPS, None (AMP off) on CPU or when
    ``mode='off'`` (:func:`helpers.devices.amp_dtype`: one line when a device cannot)."""
    from helpers.devices import amp_dtype as for_device

    return for_device(device, mode)


def loader_generator(loader: Any) -> torch.Generator | None:
    """The generator that drives a (Clip)DataLoader's shuffle and worker seeds."""
    inner = getattr(loader, "loader", loader)
    return getattr(inner, "generator", None)


class Trainer:
    """Train ``model`` with ``config`` on ``train_loader``, validating on ``val_loader``.

    ``run_dir`` gets ``last.pth``, ``best.pth`` (or ``best_path``), ``history.json``/``.csv``
    and ``run.json``. ``model_name``/``model_config``/``class_names`` go into the
    checkpoints so :func:`helpers.training.experiment.model_from_checkpoint` can rebuild
    the model.
    """

    def __init__(
        self,
        model: nn.Module,
        config: TrainConfig,
        train_loader: Iterable,
        val_loader: Iterable | None,
        *,
        run_dir: str | Path,
        best_path: str | Path | None = None,
        class_names: Sequence[str] | None = None,
        model_config: dict[str, Any] | None = None,
        callbacks: Sequence[Callback] = (),
        device: str | torch.device | None = None,
        accelerator: Any = None,
        loss: MultiTaskLoss | None = None,
        data: dict[str, Any] | None = None,
    ) -> None:
        import uuid

        self.config = config
        self.data = dict(data or {})  # what the run trains on (helpers.training.provenance.data_record)
        self.run_id = uuid.uuid4().hex[:12]  # kept through resumes: tells this run's checkpoints apart
        self.run_dir = Path(run_dir)
        self.best_path = Path(best_path) if best_path is not None else self.run_dir / "best.pth"
        self.last_path = self.run_dir / "last.pth"
        self.class_names = list(class_names or [])
        self.model_config = dict(model_config or {})
        self.callbacks = list(callbacks)
        self.accelerator = accelerator
        self.loss_fn = loss or MultiTaskLoss.from_config(config)
        if config.mixup_alpha > 0 and is_multimodal(model):
            raise ValueError("mixup_alpha > 0 is for the video-only models: a blended clip has no one caption "
                             "or audio track")
        self.generator = loader_generator(train_loader)
        steps = self._batches_per_epoch(train_loader)
        self.steps_per_epoch = max(1, math.ceil(steps / config.accum_steps))

        self.optimizer = build_optimizer(model, config)
        self.scheduler, self.sched_per_step = build_scheduler(self.optimizer, config, self.steps_per_epoch)
        if accelerator is not None:
            self.device = accelerator.device
            model, self.optimizer = accelerator.prepare(model, self.optimizer)
            train_loader = _prepare_loader(accelerator, train_loader)
            val_loader = _prepare_loader(accelerator, val_loader) if val_loader is not None else None
            self.amp = None  # the accelerator runs mixed precision
            self.scaler = None
        else:
            self.device = torch.device(device or ("cuda" if torch.cuda.is_available() else "cpu"))
            model = model.to(self.device)
            self.amp = amp_dtype(self.device, config.amp)
            self.scaler = torch.amp.GradScaler(self.device.type) if self.amp == torch.float16 else None
        self.model = model
        self.train_loader, self.val_loader = train_loader, val_loader

        self.epoch = 0  # last finished epoch
        self.step = 0  # optimizer steps
        self.best_metric = -math.inf  # validation top-1 of the kept epoch
        self.best_score = -math.inf  # what chose it (:meth:`_selection_score`)
        self.best_epoch = 0
        self.history: list[dict[str, Any]] = []

    # ------------------------------------------------------------------ helpers
    @property
    def is_main(self) -> bool:
        return self.accelerator is None or bool(self.accelerator.is_main_process)

    @property
    def core(self) -> nn.Module:
        """The model without DDP wrappers (what checkpoints hold)."""
        return unwrap(self.model)

    @property
    def max_steps(self) -> int | None:
        """The optimiser steps this run may take in all (config, lowered by the step budget)."""
        return within_budget(self.config.max_steps)

    @property
    def micro_batch(self) -> int | None:
        """The most clips one forward/backward holds (config, else ``HELPERS_MICRO_BATCH``)."""
        return self.config.micro_batch or micro_batch_size()

    @property
    def budget_exhausted(self) -> bool:
        return self.max_steps is not None and self.step >= self.max_steps

    @property
    def finished(self) -> bool:
        """The run is complete: every planned epoch, early stopping, or the step budget
        spent. A finished run is loaded, an unfinished one resumed (helpers.training.load)."""
        return self.epoch >= self.config.epochs or self._should_stop() or self.budget_exhausted

    def _batches_per_epoch(self, loader: Any) -> int:
        try:
            n = len(loader)
        except TypeError:
            n = 1
        cap = self.config.max_train_batches
        return min(n, cap) if cap else n

    def _autocast(self):
        if self.accelerator is not None:
            return self.accelerator.autocast()
        if self.amp is None:
            return contextlib.nullcontext()
        return torch.autocast(self.device.type, dtype=self.amp)

    # ------------------------------------------------------------------ epochs
    def train_one_epoch(self, epoch: int) -> dict[str, Any]:
        from tqdm.auto import tqdm

        cfg = self.config
        self.model.train()
        sums: dict[str, float] = {}
        seen = correct = 0
        expert_counts: torch.Tensor | None = None
        n_batches = self._batches_per_epoch(self.train_loader)
        bar = tqdm(total=n_batches, desc=f"epoch {epoch}", leave=False, disable=not (cfg.progress and self.is_main))
        self.optimizer.zero_grad(set_to_none=True)
        for i, batch in enumerate(self.train_loader):
            if cfg.max_train_batches and i >= cfg.max_train_batches:
                break
            if self.budget_exhausted and i % cfg.accum_steps == 0:
                break
            if self.accelerator is None:
                batch = to_device(batch, self.device)
            last_micro = (i + 1) % cfg.accum_steps == 0 or i + 1 == n_batches
            lam = mixup_lambda(cfg.mixup_alpha, cfg.seed, epoch, i) if cfg.mixup_alpha > 0 else None
            if lam is not None:
                batch = {**batch, "video": mix_clips(batch["video"], lam)}
            chunks = split_batch(batch, self.micro_batch)
            total = batch_length(batch)
            batch_loss = 0.0
            for j, chunk in enumerate(chunks):
                final = last_micro and j == len(chunks) - 1
                sync_ctx = (self.accelerator.no_sync(self.model) if self.accelerator is not None and not final
                            else contextlib.nullcontext())
                with sync_ctx:
                    with self._autocast():
                        out = task_outputs(self.model, chunk, sync=cfg.sync_weight > 0,
                                           captions=cfg.caption_weight > 0)
                        if lam is not None:  # soft targets: the loss takes class probabilities
                            out.labels = mixup_targets(out.labels, lam, out.logits.shape[-1])
                        loss, parts = self.loss_fn(out)
                    share = batch_length(chunk) / total  # the batch's mean loss, summed over its chunks
                    scaled = loss * share / cfg.accum_steps
                    if self.accelerator is not None:
                        self.accelerator.backward(scaled)
                    elif self.scaler is not None:
                        self.scaler.scale(scaled).backward()
                    else:
                        scaled.backward()
                loss_value = float(loss.detach())
                batch_loss += loss_value * share
                b = int(out.labels.shape[0])
                seen += b
                hard = out.labels.argmax(-1) if out.labels.is_floating_point() else out.labels  # mixup: larger share
                correct += int(topk_correct(out.logits.detach(), hard, (1,))[1].sum())
                for k, v in {"loss": loss_value, **parts}.items():
                    sums[k] = sums.get(k, 0.0) + v * b
                if out.expert_counts is not None:
                    c = out.expert_counts.detach().float().cpu()
                    expert_counts = c if expert_counts is None else expert_counts + c
            if last_micro:
                self._optimizer_step()
            loss_value = batch_loss
            bar.update(1)
            bar.set_postfix(loss=f"{loss_value:.3f}")
            info = {"epoch": epoch, "batch": i + 1, "batches": n_batches, "step": self.step, "loss": loss_value,
                    **{f"loss_{k}": v for k, v in parts.items()}, "lr": self.current_lr()}
            for cb in self.callbacks:
                cb.on_batch_end(self, info)
        bar.close()
        row: dict[str, Any] = {f"train_{'loss' if k == 'loss' else 'loss_' + k}": v / max(seen, 1)
                               for k, v in sums.items()}
        row["train_acc"] = correct / max(seen, 1)
        if expert_counts is not None:
            row["expert_usage"] = (expert_counts / expert_counts.sum().clamp_min(1)).tolist()
        return row

    def _optimizer_step(self) -> None:
        clip = self.config.grad_clip
        if self.accelerator is not None:
            if clip:
                self.accelerator.clip_grad_norm_(self.model.parameters(), clip)
            self.optimizer.step()
        elif self.scaler is not None:
            if clip:
                self.scaler.unscale_(self.optimizer)
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.scaler.step(self.optimizer)
            self.scaler.update()
        else:
            if clip:
                torch.nn.utils.clip_grad_norm_(self.model.parameters(), clip)
            self.optimizer.step()
        self.optimizer.zero_grad(set_to_none=True)
        self.step += 1
        if self.sched_per_step:
            self.scheduler.step()

    @torch.no_grad()
    def evaluate(self, loader: Iterable | None = None) -> dict[str, float]:
        """Validation loss, top-1/top-5 accuracy (fractions) and, with audio, sync accuracy.
        ``val_loss`` is the training objective over every task the model trains (the
        caption decoder teacher-forced on the reference captions, the sync head on aligned
        and shifted pairs); ``val_loss_<task>`` holds each term unweighted."""
        loader = self.val_loader if loader is None else loader
        if loader is None:
            return {}
        self.model.eval()
        tot = {k: torch.zeros((), dtype=torch.float64) for k in ("n", "loss", "top1", "top5", "sync_n", "sync")}
        # per term: the sum of batch means × clips, and the clips of batches that had it (a
        # batch without audio has no sync term); a fixed layout, so every process gathers
        # the same shapes whatever its batch held
        part_sums = torch.zeros(len(LOSS_PARTS), dtype=torch.float64)
        part_n = torch.zeros(len(LOSS_PARTS), dtype=torch.float64)
        k = len(LOSS_PARTS)  # a row: the loss, then each term's value, then whether the batch had it
        distributed = self.accelerator is not None and self.accelerator.num_processes > 1
        batches = itertools.islice(loader, within_budget(None))
        # micro-batches hold activation memory down here too (one process only: the
        # distributed gather drops the sharded loader's repeats per whole batch)
        chunks = (batches if distributed else
                  (c for batch in batches for c in split_batch(batch, self.micro_batch)))
        for batch in chunks:
            if self.accelerator is None:
                batch = to_device(batch, self.device)
            with self._autocast():
                out = task_outputs(self.model, batch, sync=self.config.sync_weight > 0,
                                   captions=self.config.caption_weight > 0)
                loss, parts = self.loss_fn(out)
            logits, labels = out.logits, out.labels
            hits = topk_correct(logits.float(), labels)
            sync_hits = sync_correct(out)
            row = torch.tensor([float(loss), *(parts.get(k, 0.0) for k in LOSS_PARTS),
                                *(float(k in parts) for k in LOSS_PARTS)], dtype=torch.float32)
            sync_row = torch.zeros(2) if sync_hits is None else torch.stack(
                [torch.tensor(float(sync_hits.numel())), sync_hits.sum().float().cpu()])
            if distributed:
                # gather_for_metrics drops the samples the sharded loader repeated
                per = row.to(labels.device).expand(labels.numel(), -1)
                hits1, hits5, per = self.accelerator.gather_for_metrics((hits[1], hits[5], per))
                hits = {1: hits1, 5: hits5}
                sums = per.double().sum(0).cpu()
                sync_row = self.accelerator.reduce(sync_row.to(self.device), "sum").cpu()
                n = hits1.numel()
            else:
                n = labels.numel()
                sums = row.double() * n
            tot["n"] += n
            tot["loss"] += sums[0]
            part_sums += sums[1:1 + k]
            part_n += sums[1 + k:]
            tot["top1"] += hits[1].sum().double().cpu()
            tot["top5"] += hits[5].sum().double().cpu()
            tot["sync_n"] += sync_row[0].double()
            tot["sync"] += sync_row[1].double()
        n = max(float(tot["n"]), 1.0)
        metrics = {"val_loss": float(tot["loss"]) / n, "val_acc": float(tot["top1"]) / n,
                   "val_top5": float(tot["top5"]) / n}
        metrics.update({f"val_loss_{name}": float(part_sums[i] / part_n[i])
                        for i, name in enumerate(LOSS_PARTS) if part_n[i] > 0})
        if float(tot["sync_n"]) > 0:
            metrics["val_sync_acc"] = float(tot["sync"]) / float(tot["sync_n"])
        return metrics

    def release(self) -> None:
        """Free the optimizer's moments and the gradients once training is over (for a
        full multi-modal model, twice the weights' memory). The trainer still reports
        its run and its model; training on would restart the moments (resume from
        ``last.pth`` instead)."""
        self.optimizer.zero_grad(set_to_none=True)
        self.optimizer.state.clear()
        gc.collect()
        trim_heap()

    def current_lr(self) -> float:
        """The head's learning rate (the largest; a pretrained backbone runs slower)."""
        return max(float(g["lr"]) for g in self.optimizer.param_groups)

    # ------------------------------------------------------------------ checkpoints
    def state_dict(self) -> dict[str, Any]:
        return {
            "format": FORMAT,
            "model": self.core.state_dict(),
            "optimizer": self.optimizer.state_dict(),
            "scheduler": self.scheduler.state_dict(),
            "scaler": self.scaler.state_dict() if self.scaler is not None else None,
            "epoch": self.epoch,
            "step": self.step,
            "best_metric": self.best_metric if math.isfinite(self.best_metric) else None,
            "best_epoch": self.best_epoch,
            "metrics": dict(self.history[-1]) if self.history else {},
            "history": [dict(r) for r in self.history],
            "rng": capture_rng_state(self.generator),
            "config": self.config.to_dict(),
            "model_name": self.config.model,
            "model_config": self.model_config,
            "class_names": self.class_names,
            "versions": package_versions(),
            "finished": self.finished,
            "run_id": self.run_id,
            "data": dict(self.data),
        }

    def load_state_dict(self, state: dict[str, Any]) -> None:
        self.core.load_state_dict(state["model"])
        if state.get("optimizer") is not None:
            self.optimizer.load_state_dict(state["optimizer"])
        if state.get("scheduler") is not None:
            self.scheduler.load_state_dict(state["scheduler"])
        if self.scaler is not None and state.get("scaler") is not None:
            self.scaler.load_state_dict(state["scaler"])
        self.epoch = int(state["epoch"])
        self.step = int(state.get("step", 0))
        best = state.get("best_metric")
        self.best_metric = -math.inf if best is None else float(best)
        self.best_epoch = int(state.get("best_epoch", 0))
        self.history = [dict(r) for r in state.get("history", [])]
        kept = [r for r in self.history if r.get("epoch") == self.best_epoch]
        self.best_score = self._selection_score(kept[0]) if kept else -math.inf
        self.run_id = str(state.get("run_id") or self.run_id)
        if state.get("rng") is not None:
            restore_rng_state(state["rng"], self.generator)

    def resume(self, path: str | Path | None = None) -> bool:
        """Load ``path`` (default ``last.pth``) when it exists; a damaged file raises
        :class:`~helpers.training.checkpoint.CheckpointError` (we never restart over it)."""
        path = Path(path) if path is not None else self.last_path
        if not path.exists():
            return False
        self.load_state_dict(load_checkpoint(path, map_location="cpu"))
        return True

    def _save(self, is_best: bool) -> None:
        if not self.is_main:
            return
        state = self.state_dict()
        save_checkpoint(self.last_path, state)
        if is_best:
            save_checkpoint(self.best_path, state)
        self._write_history()

    def _write_history(self) -> None:
        self.run_dir.mkdir(parents=True, exist_ok=True)
        (self.run_dir / "history.json").write_text(json.dumps(self.history, indent=1))
        rows = [flatten_row(r) for r in self.history]
        keys = list(dict.fromkeys(k for r in rows for k in r))
        tmp = self.run_dir / "history.csv.part"
        with open(tmp, "w", newline="") as fh:
            writer = csv.DictWriter(fh, fieldnames=keys)
            writer.writeheader()
            writer.writerows(rows)
        tmp.replace(self.run_dir / "history.csv")

    # ------------------------------------------------------------------ fit
    def fit(self, resume: bool | str | Path = False) -> TrainResult:
        """Train until ``config.epochs`` (or early stopping); with ``resume`` continue
        from ``last.pth`` (or the given file) when present."""
        from tqdm.auto import tqdm

        cfg = self.config
        if resume:
            resumed = self.resume(None if resume is True else resume)
            if resumed and self.is_main:
                print(f"resumed from epoch {self.epoch} (best val acc {max(self.best_metric, 0):.1%} "
                      f"at epoch {self.best_epoch})")
        if self.is_main:
            self.run_dir.mkdir(parents=True, exist_ok=True)
            run_info = {"config": cfg.to_dict(), "model_config": self.model_config, "class_names": self.class_names,
                        "versions": package_versions(), "device": str(self.device), "data": self.data,
                        "run_id": self.run_id}
            (self.run_dir / "run.json").write_text(json.dumps(run_info, indent=1, default=str))
        stopped_early = self._should_stop()
        bar = tqdm(total=cfg.epochs, initial=min(self.epoch, cfg.epochs), desc="training", unit="epoch",
                   disable=not (cfg.progress and self.is_main))
        try:
            while self.epoch < cfg.epochs and not stopped_early:
                epoch = self.epoch + 1
                started = time.perf_counter()
                lr = self.current_lr()
                try:
                    row = self.train_one_epoch(epoch)
                except StopTraining:
                    break
                trim_heap()  # the epoch's activations leave the process before validation
                row.update(self.evaluate())
                trim_heap()
                if not self.sched_per_step and "val_acc" in row:
                    self.scheduler.step(row["val_acc"])
                score = self._selection_score(row)
                is_best = (cfg.keep_weights == "last" or score > self.best_score + cfg.min_delta
                           or not self.history)
                if is_best:
                    self.best_score, self.best_epoch = score, epoch
                    self.best_metric = row.get("val_acc", row["train_acc"])
                row = {"epoch": epoch, "lr": lr, **row, "seconds": time.perf_counter() - started, "best": is_best}
                self.history.append(row)
                self.epoch = epoch
                self._save(is_best)
                self._log(row)
                bar.update(1)
                stopped_early = self._should_stop()
                if self.budget_exhausted:
                    break
                try:
                    for cb in self.callbacks:
                        cb.on_epoch_end(self, row)
                except StopTraining:
                    break
        except KeyboardInterrupt:
            raise RunInterrupted(self.epoch, cfg.epochs, self.last_path) from None
        finally:
            bar.close()
        if self.finished and self.is_main:
            self._mark_best_finished()
        if self.budget_exhausted and self.is_main:
            print(f"step budget reached: {self.step} optimiser steps (max_steps / HELPERS_MAX_STEPS)")
        if stopped_early and self.is_main:
            print(f"early stopping: no improvement for {cfg.early_stopping_patience} epochs "
                  f"(best {self.best_metric:.1%} at epoch {self.best_epoch})")
        if self.accelerator is not None:
            self.accelerator.wait_for_everyone()
        return TrainResult(
            best_val_acc=max(self.best_metric, 0.0), best_epoch=self.best_epoch, epochs=self.epoch,
            stopped_early=stopped_early, checkpoint=self.best_path, last_checkpoint=self.last_path,
            history=self.history, run_dir=self.run_dir, budget_exhausted=self.budget_exhausted,
            finished=self.finished,
        )

    def _mark_best_finished(self) -> None:
        """Record in this run's best checkpoint that the run it belongs to is complete
        (it was written at its epoch, before the run knew)."""
        if not self.best_path.is_file():
            return
        state = load_checkpoint(self.best_path, mmap=True)  # copied through, never held whole
        if state.get("run_id") == self.run_id and not state.get("finished"):
            save_checkpoint(self.best_path, {**state, "finished": True})

    def _selection_score(self, row: dict[str, Any]) -> float:
        """Higher is better: validation top-1 (``keep_weights="val_acc"``), or minus the
        validation loss over every task (``"val_loss"``); the training figures where
        there is no validation set."""
        if self.config.keep_weights == "val_loss":
            return -float(row.get("val_loss", row.get("train_loss", math.inf)))
        return float(row.get("val_acc", row.get("train_acc", 0.0)))

    def _should_stop(self) -> bool:
        patience = self.config.early_stopping_patience
        return bool(patience) and self.best_epoch > 0 and self.epoch - self.best_epoch >= patience

    # ------------------------------------------------------------------ logging
    def _log(self, row: dict[str, Any]) -> None:
        if not self.is_main:
            return
        parts = [f"epoch {row['epoch']}/{self.config.epochs}",
                 f"train loss {row.get('train_loss', float('nan')):.4f} acc {row.get('train_acc', 0):.1%}"]
        if "val_acc" in row:
            parts.append(f"val loss {row['val_loss']:.4f} acc {row['val_acc']:.1%} top5 {row['val_top5']:.1%}")
        if "val_sync_acc" in row:
            parts.append(f"sync {row['val_sync_acc']:.1%}")
        parts.append(f"lr {row['lr']:.2e}")
        kept = " ★ kept" if self.config.keep_weights == "last" else " ★ best"
        parts.append(f"{row['seconds']:.1f} s" + (kept if row["best"] else ""))
        print(" · ".join(parts), flush=True)


def batch_length(batch: dict[str, Any]) -> int:
    """Clips in a Batches-contract dict (the leading size of its labels)."""
    return int(batch["label"].shape[0])


def split_batch(batch: dict[str, Any], size: int | None) -> list[dict[str, Any]]:
    """``batch`` as consecutive chunks of at most ``size`` clips (tensors and lists with
    one entry per clip are cut, everything else is shared); ``[batch]`` when it fits."""
    n = batch_length(batch)
    if not size or n <= size:
        return [batch]

    def cut(value: Any, lo: int, hi: int) -> Any:
        if isinstance(value, torch.Tensor) and value.dim() and value.shape[0] == n:
            return value[lo:hi]
        if isinstance(value, (list, tuple)) and len(value) == n:
            return value[lo:hi]
        return value

    return [{k: cut(v, lo, min(lo + size, n)) for k, v in batch.items()} for lo in range(0, n, size)]


def flatten_row(row: dict[str, Any]) -> dict[str, Any]:
    """A history row with list values spread into ``key_0, key_1, …`` columns."""
    out: dict[str, Any] = {}
    for k, v in row.items():
        if isinstance(v, (list, tuple)):
            out.update({f"{k}_{i}": x for i, x in enumerate(v)})
        else:
            out[k] = v
    return out


def _prepare_loader(accelerator: Any, loader: Any) -> Any:
    """Let ``accelerate`` shard the DataLoader inside a :class:`ClipLoader` (or a plain one)."""
    from helpers.datasets.loader import ClipLoader

    if isinstance(loader, ClipLoader):
        return ClipLoader(accelerator.prepare(loader.loader))
    return accelerator.prepare(loader)


def evaluate(model: nn.Module, loader: Iterable, config: TrainConfig | None = None,
             device: str | torch.device | None = None) -> dict[str, float]:
    """Validation metrics of ``model`` on ``loader`` without training (top-1/top-5 as fractions)."""
    cfg = config or TrainConfig(epochs=0, progress=False)
    return Trainer(model, cfg, [], loader, run_dir=Path("."), device=device).evaluate()
