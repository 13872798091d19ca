"""The trainer's loop on the generated data: kill-and-resume gives the same weights as
an uninterrupted run, early stopping stops, callbacks and history see every step."""
from __future__ import annotations

import csv
import json

import pytest
import torch

from helpers.training import Callback, Trainer
from helpers.training.experiment import build_experiment
from training_data import make_hmdb51, tiny_config, use_tmp_settings

pytestmark = pytest.mark.timeout(120)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return make_hmdb51(tmp_path_factory.mktemp("hmdb"))


class Killed(RuntimeError):
    """Stands in for the process being killed."""


class KillAfter(Callback):
    def __init__(self, epoch: int) -> None:
        self.epoch = epoch

    def on_epoch_end(self, trainer, record):
        if record["epoch"] == self.epoch:
            raise Killed(f"killed after epoch {self.epoch}")


class Recorder(Callback):
    def __init__(self) -> None:
        self.batches: list[dict] = []
        self.epochs: list[dict] = []

    def on_batch_end(self, trainer, info):
        self.batches.append(info)

    def on_epoch_end(self, trainer, record):
        self.epochs.append(record)


def make_trainer(config, clips, run_dir, callbacks=()):
    exp = build_experiment(config, clips)
    return Trainer(exp.model, config, exp.train_loader, exp.val_loader, run_dir=run_dir, device="cpu",
                   class_names=exp.class_names, model_config=exp.model_config, callbacks=callbacks)


def test_kill_after_epoch_2_and_resume_reaches_the_same_weights(clips, tmp_path, monkeypatch):
    use_tmp_settings(monkeypatch, tmp_path)
    # segment sampling, random crops, dropout and MoE gate noise all draw random numbers
    config = tiny_config(epochs=4, deterministic=True, clip_cache="off", train_sampler="segment",
                         model_overrides={"backbone_width": 16, "dropout": 0.3})
    whole = make_trainer(config, clips, tmp_path / "whole")
    result = whole.fit()
    assert result.epochs == 4

    killed = make_trainer(config, clips, tmp_path / "killed", callbacks=[KillAfter(2)])
    with pytest.raises(Killed):
        killed.fit()
    saved = torch.load(tmp_path / "killed" / "last.pth", weights_only=True)
    assert saved["epoch"] == 2 and len(saved["history"]) == 2

    resumed = make_trainer(config, clips, tmp_path / "killed")
    result2 = resumed.fit(resume=True)
    assert result2.epochs == 4 and [r["epoch"] for r in result2.history] == [1, 2, 3, 4]
    a, b = whole.core.state_dict(), resumed.core.state_dict()
    assert a.keys() == b.keys()
    different = [k for k in a if not torch.equal(a[k], b[k])]
    assert different == []
    assert resumed.step == whole.step
    for ra, rb in zip(result.history, result2.history):
        assert ra["train_loss"] == pytest.approx(rb["train_loss"], abs=0)
    # and training did change the weights (the comparison above is not trivially true)
    fresh = make_trainer(config, clips, tmp_path / "fresh").core.state_dict()
    assert any(not torch.equal(fresh[k], a[k]) for k in a if a[k].is_floating_point())


def test_early_stopping_stops_when_validation_stops_improving(clips, tmp_path, monkeypatch):
    use_tmp_settings(monkeypatch, tmp_path)
    # lr 0: the weights never change, so validation accuracy cannot improve after epoch 1
    config = tiny_config(epochs=10, lr=0.0, early_stopping_patience=2, scheduler="constant")
    recorder = Recorder()
    result = make_trainer(config, clips, tmp_path / "run", callbacks=[recorder]).fit()
    assert result.stopped_early
    assert result.epochs == 3 and len(result.history) == 3
    assert result.best_epoch == 1
    assert [r["epoch"] for r in recorder.epochs] == [1, 2, 3]


def test_keep_weights_last_keeps_the_final_epoch_and_never_stops_early(clips, tmp_path, monkeypatch):
    from helpers.training import TrainConfig

    assert TrainConfig.smoke("multimodal").keep_weights == "last"
    assert TrainConfig.smoke("moe").keep_weights == "val_acc"
    with pytest.raises(ValueError, match="keep_weights"):
        TrainConfig(keep_weights="best")
    use_tmp_settings(monkeypatch, tmp_path)
    # lr 0 and patience 2, as in the early-stopping test: with "val_acc" this stops at epoch 3
    config = tiny_config(epochs=4, lr=0.0, early_stopping_patience=2, scheduler="constant", keep_weights="last")
    result = make_trainer(config, clips, tmp_path / "run").fit()
    assert not result.stopped_early and result.epochs == 4 and result.best_epoch == 4
    assert [r["best"] for r in result.history] == [True] * 4
    assert torch.load(result.checkpoint, weights_only=True)["epoch"] == 4


def test_keep_weights_val_loss_keeps_the_lowest_validation_loss_also_across_a_resume(clips, tmp_path, monkeypatch):
    use_tmp_settings(monkeypatch, tmp_path)
    config = tiny_config(epochs=4, early_stopping_patience=None, keep_weights="val_loss")
    result = make_trainer(config, clips, tmp_path / "whole").fit()
    losses = [r["val_loss"] for r in result.history]
    for row in result.history:  # the objective over every task: classification + the MoE's balance term
        assert row["val_loss"] == pytest.approx(row["val_loss_cls"] + row["val_loss_aux"], rel=1e-5)
    best = 1 + losses.index(min(losses))
    assert result.best_epoch == best
    assert torch.load(result.checkpoint, weights_only=True)["epoch"] == best
    assert result.best_val_acc == result.history[best - 1]["val_acc"]
    # killed after epoch 2, resumed: the kept epoch's loss is what epochs 3 and 4 must beat
    with pytest.raises(Killed):
        make_trainer(config, clips, tmp_path / "killed", callbacks=[KillAfter(2)]).fit()
    resumed = make_trainer(config, clips, tmp_path / "killed")
    again = resumed.fit(resume=True)
    losses_again = [r["val_loss"] for r in again.history]
    assert again.best_epoch == 1 + losses_again.index(min(losses_again))
    assert resumed.best_score == -min(losses_again)


def test_callbacks_history_files_and_gradient_accumulation(clips, tmp_path, monkeypatch):
    use_tmp_settings(monkeypatch, tmp_path)
    config = tiny_config(epochs=2, accum_steps=2)  # 12 train clips / batch 4 = 3 batches
    recorder = Recorder()
    trainer = make_trainer(config, clips, tmp_path / "run", callbacks=[recorder])
    result = trainer.fit()
    assert len(recorder.batches) == 6
    assert [b["batch"] for b in recorder.batches] == [1, 2, 3, 1, 2, 3]
    assert trainer.step == 4  # ceil(3 / 2) optimizer steps per epoch
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert [r["epoch"] for r in history] == [1, 2]
    for row in history:
        assert 0.0 <= row["val_acc"] <= row["val_top5"] <= 1.0
        assert row["val_top5"] == 1.0  # 3 classes: the top 5 always hold the label
        assert len(row["expert_usage"]) == 4 and sum(row["expert_usage"]) == pytest.approx(1.0)
        assert row["train_loss_aux"] > 0
    with open(tmp_path / "run" / "history.csv") as fh:
        rows = list(csv.DictReader(fh))
    assert len(rows) == 2 and {"epoch", "train_loss", "val_acc", "lr", "expert_usage_0"} <= set(rows[0])
    best = torch.load(result.checkpoint, weights_only=True)
    assert best["epoch"] == result.best_epoch and best["class_names"] == trainer.class_names
    run = json.loads((tmp_path / "run" / "run.json").read_text())
    assert run["config"]["accum_steps"] == 2 and "torch" in run["versions"]
