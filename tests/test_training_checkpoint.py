"""Checkpoints: atomic writes, a clear error on a damaged file, the last good file kept,
and RNG states that restore exactly."""
from __future__ import annotations

import random

import numpy as np
import pytest
import torch

from helpers.training import CheckpointError, Trainer, load_checkpoint, save_checkpoint
from helpers.training.checkpoint import FORMAT
from helpers.training.experiment import build_experiment
from helpers.training.seed import capture_rng_state, restore_rng_state
from training_data import make_hmdb51, tiny_config, use_tmp_settings

pytestmark = pytest.mark.timeout(120)


def state(value: float) -> dict:
    return {"format": FORMAT, "model": {"w": torch.full((3,), value)}, "epoch": 1, "config": {"model": "moe"}}


def test_round_trip_with_weights_only(tmp_path):
    path = save_checkpoint(tmp_path / "a.pth", state(1.5))
    loaded = load_checkpoint(path)
    assert torch.equal(loaded["model"]["w"], torch.full((3,), 1.5)) and loaded["epoch"] == 1
    assert [p.name for p in tmp_path.iterdir()] == ["a.pth"]  # no temporary file left


def test_a_write_that_dies_midway_keeps_the_previous_file(tmp_path, monkeypatch):
    path = save_checkpoint(tmp_path / "best.pth", state(1.0))
    good = path.read_bytes()

    def dying_save(obj, fh, *args, **kwargs):
        fh.write(b"PK\x03\x04 half a zip")
        raise OSError("No space left on device")

    monkeypatch.setattr(torch, "save", dying_save)
    with pytest.raises(OSError, match="No space left"):
        save_checkpoint(path, state(2.0))
    assert path.read_bytes() == good
    assert sorted(p.name for p in tmp_path.iterdir()) == ["best.pth"]


@pytest.mark.parametrize("damage", ["truncate", "garbage", "empty"])
def test_a_damaged_file_gives_a_clear_error(tmp_path, damage):
    path = save_checkpoint(tmp_path / "moe_split1_best.pth", state(1.0))
    data = path.read_bytes()
    path.write_bytes({"truncate": data[: len(data) // 2], "garbage": b"\x00not a checkpoint" * 50,
                      "empty": b""}[damage])
    with pytest.raises(CheckpointError) as err:
        load_checkpoint(path)
    assert err.value.path == path
    assert "moe_split1_best.pth" in str(err.value) and "damaged" in str(err.value) and "force" in str(err.value)


def test_pickled_code_is_refused(tmp_path):
    path = tmp_path / "evil.pth"
    torch.save({"format": FORMAT, "model": {}, "epoch": 0, "config": {}, "x": np.dtype("float32").type}, path)
    with pytest.raises(CheckpointError, match="weights_only"):
        load_checkpoint(path)


def test_other_files_are_not_mistaken_for_checkpoints(tmp_path):
    torch.save({"weights": torch.zeros(2)}, tmp_path / "plain.pth")
    with pytest.raises(CheckpointError, match="not a helpers.training/1 checkpoint"):
        load_checkpoint(tmp_path / "plain.pth")
    with pytest.raises(CheckpointError, match="no such checkpoint"):
        load_checkpoint(tmp_path / "missing.pth")


def test_rng_states_restore_exactly():
    g = torch.Generator().manual_seed(3)
    saved = capture_rng_state(g)
    first = (random.random(), np.random.rand(), torch.rand(2), torch.rand(2, generator=g))
    restore_rng_state(saved, g)
    again = (random.random(), np.random.rand(), torch.rand(2), torch.rand(2, generator=g))
    assert first[0] == again[0] and first[1] == again[1]
    assert torch.equal(first[2], again[2]) and torch.equal(first[3], again[3])


def test_resuming_from_a_damaged_last_checkpoint_fails_and_overwrites_nothing(tmp_path, monkeypatch):
    use_tmp_settings(monkeypatch, tmp_path)
    clips = make_hmdb51(tmp_path / "hmdb")
    config = tiny_config(epochs=2)
    exp = build_experiment(config, clips)
    trainer = Trainer(exp.model, config, exp.train_loader, exp.val_loader, run_dir=tmp_path / "run", device="cpu")
    trainer.fit()
    best, last = tmp_path / "run" / "best.pth", tmp_path / "run" / "last.pth"
    best_bytes = best.read_bytes()
    last.write_bytes(last.read_bytes()[:1000])  # a disk that filled up, a copy cut short…
    damaged = last.read_bytes()

    config4 = tiny_config(epochs=4)
    exp = build_experiment(config4, clips)
    again = Trainer(exp.model, config4, exp.train_loader, exp.val_loader, run_dir=tmp_path / "run", device="cpu")
    with pytest.raises(CheckpointError, match="last.pth"):
        again.fit(resume=True)
    assert best.read_bytes() == best_bytes and last.read_bytes() == damaged
