"""Proof that the MoE model (model A) learns, measured honestly on the generated dataset.
The multi-modal model's proof is in ``test_training_learning_multimodal.py``.

The data is the project's stand-in (:mod:`helpers.synth`), packed as HMDB51 (RAR archives,
split files), decoded by the real dataset and trained by the real trainer with the
unchanged smoke preset (8 frames at 32 px, R(2+1)D at a quarter width). Sizes are cut to
fit a CPU test budget: 4 classes (move_left, move_right, rotate_cw, rotate_ccw: classes
no single frame can tell apart), 33 clips each (84 train / 36 val), 1.6-s clips at
10 fps, the event in 60–80 % of each clip (the smoke preset's 25–40 % needs more frames
than a CPU test can afford).

What was measured (see :mod:`helpers.models.motion` for the why):
* before: with frame differences alone the Motion Dynamics Module was ~50× weaker than
  the appearance features and could not say left from right (a difference does not tell
  a bright thing moving right from a dark one moving left); the model memorised
  appearance: 98 % train accuracy, best validation 47 % (chance 25 %) after 6 epochs.
* now: with the brightness-constancy cues (differences × spatial gradients) and their
  global translation / rotation / dilation sums, LayerNorm-ed, validation is 94 % after
  the first epoch and 97 % (35 of 36) after the second and third (this test, seed 0;
  seeds 0–2 give 96–97 % on 240 extra held-out clips, 6 classes 95 %). With the motion
  features zeroed at test time the same weights give 33 %: it learned motion, not
  appearance. Wall time: ~65 s on 2 CPU cores at load 5, ~2 min at load 6–9.
"""
from __future__ import annotations

import pytest
import torch

from helpers.models.motion import MotionOutput
from helpers.training import TrainConfig, Trainer
from helpers.training.experiment import build_experiment
from helpers.training.trainer import evaluate
from training_data import make_hmdb51, use_tmp_settings

pytestmark = pytest.mark.timeout(600)  # ~65 s on 2 CPU cores at load 5 (2 minutes when shared more)

DATA = dict(classes=4, clips_per_class=33, seconds=1.6, fps=10, size=(80, 60), event_fraction=(0.6, 0.8))


def _without_motion(module, inputs, output: MotionOutput) -> MotionOutput:
    return MotionOutput(torch.zeros_like(output.features), output.energy)


def test_moe_learns_above_chance(tmp_path, monkeypatch):
    use_tmp_settings(monkeypatch, tmp_path)
    clips = make_hmdb51(tmp_path / "hmdb", **DATA)
    config = TrainConfig.smoke("moe", epochs=3, seed=0)
    exp = build_experiment(config, clips)
    assert len(exp.train_loader.dataset) == 84 and len(exp.val_loader.dataset) == 36
    result = Trainer(exp.model, config, exp.train_loader, exp.val_loader, run_dir=tmp_path / "run",
                     device="cpu").fit()
    first, last = result.history[0], result.history[-1]
    print({"best_val_acc": result.best_val_acc, "history": [(r["train_acc"], r["val_acc"]) for r in result.history]})
    assert last["train_loss"] < 0.5 * first["train_loss"]  # it fits the training clips
    assert last["train_acc"] >= 0.9
    # measured: 94.4 %, 97.2 %, 97.2 % (35 of 36) over the 3 epochs; chance 25 % (9 of 36)
    assert result.best_val_acc >= 0.85
    assert last["val_acc"] >= 0.85  # not one lucky epoch

    # what it learned is motion: without the motion features the same weights are near chance
    hook = exp.model.motion.register_forward_hook(_without_motion)
    try:
        blind = evaluate(exp.model, exp.val_loader, config, device="cpu")["val_acc"]
    finally:
        hook.remove()
    print({"val_acc_without_motion": blind})
    assert blind <= 0.6  # measured: 33 % (13.9 % in an earlier run of the same test)
