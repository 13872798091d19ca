"""The step budget (HELPERS_MAX_STEPS / --max-steps): how long loops run, never which
code runs."""
from __future__ import annotations

import os
from types import SimpleNamespace

import pytest
import torch
from torch import nn

from helpers.cli import pop_max_steps
from helpers.settings import MAX_STEPS_ENV, step_budget, within_budget
from helpers.training import Trainer, TrainConfig


def test_budget_reads_the_environment(monkeypatch):
    monkeypatch.delenv(MAX_STEPS_ENV, raising=False)
    assert step_budget() is None and within_budget(7) == 7 and within_budget(None) is None
    monkeypatch.setenv(MAX_STEPS_ENV, "3")
    assert step_budget() == 3 and within_budget(7) == 3 and within_budget(2) == 2 and within_budget(None) == 3
    for bad in ("0", "-1", "two"):
        monkeypatch.setenv(MAX_STEPS_ENV, bad)
        with pytest.raises(ValueError, match=MAX_STEPS_ENV):
            step_budget()


def test_cli_flag_anywhere_sets_the_budget(monkeypatch):
    monkeypatch.setenv(MAX_STEPS_ENV, "9")  # restored after the test, whatever pop_max_steps writes
    assert pop_max_steps(["train", "--max-steps", "4", "--model", "moe"]) == ["train", "--model", "moe"]
    assert os.environ[MAX_STEPS_ENV] == "4"
    assert pop_max_steps(["--max-steps=2", "rl"]) == ["rl"]
    assert os.environ[MAX_STEPS_ENV] == "2"
    with pytest.raises(SystemExit, match="whole number"):
        pop_max_steps(["train", "--max-steps", "x"])


class Linear(nn.Module):
    """A tiny video classifier: mean over (T, H, W), then a linear layer."""

    def __init__(self) -> None:
        super().__init__()
        self.fc = nn.Linear(3, 2)

    def forward(self, video):
        return SimpleNamespace(logits=self.fc(video.mean(dim=(2, 3, 4))))


class CountingLoader:
    def __init__(self, batches: int) -> None:
        self.batches, self.read = batches, 0

    def __len__(self) -> int:
        return self.batches

    def __iter__(self):
        for i in range(self.batches):
            self.read += 1
            yield {"video": torch.randn(2, 3, 2, 4, 4), "label": torch.tensor([i % 2, (i + 1) % 2])}


def test_trainer_stops_at_the_budget_and_evaluates_capped(monkeypatch, tmp_path):
    cfg = TrainConfig(epochs=5, progress=False, early_stopping_patience=None, warmup_epochs=0.0)
    train, val = CountingLoader(4), CountingLoader(6)
    monkeypatch.setenv(MAX_STEPS_ENV, "3")
    trainer = Trainer(Linear(), cfg, train, val, run_dir=tmp_path, device="cpu")
    result = trainer.fit()
    assert trainer.step == 3 and result.budget_exhausted and result.epochs == 1
    assert val.read == 3  # evaluation read 3 of its 6 batches
    assert result.summary()["budget_exhausted"] is True

    monkeypatch.delenv(MAX_STEPS_ENV)
    train, val = CountingLoader(4), CountingLoader(6)
    trainer = Trainer(Linear(), cfg.with_(epochs=2), train, val, run_dir=tmp_path / "free", device="cpu")
    result = trainer.fit()
    assert trainer.step == 8 and not result.budget_exhausted and val.read == 12

    trainer = Trainer(Linear(), cfg.with_(max_steps=5), CountingLoader(4), None, run_dir=tmp_path / "cfg",
                      device="cpu")
    assert trainer.fit().epochs == 2 and trainer.step == 5  # the config's own cap, mid-epoch


def test_caption_decoding_steps_obey_the_budget(monkeypatch):
    from helpers.models.captioning import SmallCaptionDecoder, beam_search, greedy_decode

    torch.manual_seed(0)
    decoder = SmallCaptionDecoder(vocab_size=50, dim=16, layers=1, heads=2, max_len=20).eval()
    decoder.eos_id = -1  # never ends by itself: the length is the cap's
    memory = torch.randn(2, 5, 16)
    monkeypatch.delenv(MAX_STEPS_ENV, raising=False)
    assert [len(s) for s in greedy_decode(decoder, memory)] == [19, 19]
    monkeypatch.setenv(MAX_STEPS_ENV, "3")
    assert [len(s) for s in greedy_decode(decoder, memory)] == [3, 3]
    assert [len(s) for s in beam_search(decoder, memory, beam_size=2)] == [3, 3]


def test_micro_batches_take_the_same_optimiser_step(monkeypatch, tmp_path):
    """A batch split into chunks (HELPERS_MICRO_BATCH / TrainConfig.micro_batch) gives the
    gradients of the whole batch: the same weights after the step, in less memory."""
    from helpers.settings import MICRO_BATCH_ENV
    from helpers.training.trainer import split_batch

    batch = {"video": torch.randn(5, 3, 2, 4, 4), "label": torch.tensor([0, 1, 1, 0, 1]), "path": list("abcde"),
             "fps": 25.0}
    chunks = split_batch(batch, 2)
    assert [len(c["label"]) for c in chunks] == [2, 2, 1] and chunks[2]["path"] == ["e"] and chunks[1]["fps"] == 25.0
    assert torch.equal(torch.cat([c["video"] for c in chunks]), batch["video"])

    class OneBatch:
        def __len__(self):
            return 1

        def __iter__(self):
            yield batch

    cfg = TrainConfig(epochs=1, progress=False, early_stopping_patience=None, warmup_epochs=0.0, grad_clip=None)
    weights, metrics = [], []
    for micro in (None, "2"):
        if micro:
            monkeypatch.setenv(MICRO_BATCH_ENV, micro)
        torch.manual_seed(0)
        trainer = Trainer(Linear(), cfg, OneBatch(), OneBatch(), run_dir=tmp_path / str(micro), device="cpu")
        assert trainer.micro_batch == (int(micro) if micro else None)
        trainer.fit()
        weights.append(trainer.core.fc.weight.detach().clone())
        metrics.append(trainer.evaluate())  # validation goes through the same chunks
    assert torch.allclose(weights[0], weights[1], atol=1e-6)
    assert not torch.equal(weights[0], Linear().fc.weight)  # a step was taken
    assert metrics[0].keys() == metrics[1].keys()
    assert all(abs(metrics[0][k] - metrics[1][k]) < 1e-6 for k in metrics[0])


def test_release_frees_the_optimizer_state_and_gradients(tmp_path):
    cfg = TrainConfig(epochs=1, progress=False, early_stopping_patience=None, warmup_epochs=0.0)
    trainer = Trainer(Linear(), cfg, CountingLoader(2), None, run_dir=tmp_path, device="cpu")
    trainer.fit()
    trainer.core.fc.weight.grad = torch.ones_like(trainer.core.fc.weight)
    assert len(trainer.optimizer.state) == 2  # AdamW's moments of the weight and the bias
    trainer.release()
    assert len(trainer.optimizer.state) == 0 and trainer.core.fc.weight.grad is None
    assert trainer.step == 2 and trainer.evaluate(CountingLoader(1))["val_acc"] in (0.0, 0.5, 1.0)
