"""Proof that training learns, measured honestly on the generated dataset.

The data is the project's stand-in (:mod:`helpers.synth`), packed as HMDB51 (RAR archives,
split files) for the MoE model and in the Kinetics layout (audio, captions) for the
multi-modal one, decoded by the real datasets and trained by the real trainer. Sizes are
cut to fit a CPU test budget: 4 classes (move_left, move_right, rotate_cw, rotate_ccw:
classes no single frame can tell apart), 1.6-s clips at 10 fps, 8 frames at 32 px, the
smoke presets (MoE: R(2+1)D at a quarter width). The event fills 60–80 % of each clip
(the smoke preset's 25–40 % needs more frames and pixels than a CPU test can afford).

What was measured while writing these tests (2 shared CPU cores, see the report):
* MoE: the training set is fitted within a few epochs (98 % train accuracy) but the best
  validation top-1 is 47 % (chance 25 %), falling back to 25–36 % as it overfits: at
  32 px a move is ~1 px between sampled frames and the model memorises appearance first.
  The assertion below is therefore the honest "above chance", NOT the 80 % asked for;
  that needs more pixels, clips and epochs than a CPU test affords (a GPU run).
* multi-modal: the sync head separates aligned from shifted audio (90 % after 4 epochs,
  chance 50 %); classification only improves on the training side in that time
  (train accuracy 27 % → 47 %, validation stays at chance).
"""
from __future__ import annotations

import pytest

from helpers.training import TrainConfig, Trainer
from helpers.training.experiment import build_experiment
from training_data import make_hmdb51, make_kinetics, use_tmp_settings

pytestmark = pytest.mark.timeout(600)  # ~50 s and ~40 s on 2 CPU cores (more when shared)

DATA = dict(classes=4, clips_per_class=33, seconds=1.6, fps=10, size=(80, 60), event_fraction=(0.6, 0.8))


def test_moe_learns_above_chance(tmp_path, monkeypatch):
    use_tmp_settings(monkeypatch, tmp_path)
    clips = make_hmdb51(tmp_path / "hmdb", **DATA)
    config = TrainConfig.smoke("moe", epochs=6, seed=0)
    exp = build_experiment(config, clips)
    assert len(exp.train_loader.dataset) == 84 and len(exp.val_loader.dataset) == 36
    result = Trainer(exp.model, config, exp.train_loader, exp.val_loader, run_dir=tmp_path / "run",
                     device="cpu").fit()
    first, last = result.history[0], result.history[-1]
    print({"best_val_acc": result.best_val_acc, "history": [(r["train_acc"], r["val_acc"]) for r in result.history]})
    assert last["train_loss"] < 0.6 * first["train_loss"]  # it fits the training clips
    assert last["train_acc"] >= 0.8
    # measured: 47.2 % at epoch 3 (17 of 36); chance 25 % (9 of 36)
    assert result.best_val_acc >= 0.38


def test_multimodal_sync_head_beats_chance(tmp_path, monkeypatch):
    use_tmp_settings(monkeypatch, tmp_path)
    root = make_kinetics(tmp_path, **DATA)
    # a constant LR: a 4-epoch cosine decays before the sync head has separated the pairs
    config = TrainConfig.smoke("multimodal", epochs=4, seed=0, scheduler="constant")
    exp = build_experiment(config, root)
    result = Trainer(exp.model, config, exp.train_loader, exp.val_loader, run_dir=tmp_path / "run",
                     device="cpu").fit()
    print([(r["train_acc"], r["val_acc"], r.get("val_sync_acc")) for r in result.history])
    first, last = result.history[0], result.history[-1]
    assert last["train_loss_cls"] < first["train_loss_cls"]
    assert last["train_loss_caption"] < 0.7 * first["train_loss_caption"]
    # measured: 90 % at epoch 4 (36 of 40 pairs); chance 50 %
    assert max(r["val_sync_acc"] for r in result.history) >= 0.75
