"""Load-or-train (the seed's ``models/<model>_split<N>_best.pth``) and the CLI."""
from __future__ import annotations

import json

import pytest
import torch

from helpers.training import CheckpointError, checkpoint_path, load_or_train
from helpers.training import trainer as trainer_module
from helpers.training.cli import main as train_main
from helpers.training.load import load_trained
from training_data import make_hmdb51, tiny_config, use_tmp_settings

pytestmark = pytest.mark.timeout(150)


@pytest.fixture(scope="module")
def clips(tmp_path_factory):
    return make_hmdb51(tmp_path_factory.mktemp("hmdb"))


def test_trains_when_absent_loads_when_present_and_force_retrains(clips, tmp_path, monkeypatch):
    use_tmp_settings(monkeypatch, tmp_path)
    target = checkpoint_path("moe", 2)
    assert target == tmp_path / "models" / "moe_split2_best.pth" and not target.exists()

    first = load_or_train("moe", 2, config=tiny_config(epochs=1), data=clips)
    assert first.trained and target.is_file() and first.checkpoint == target
    assert not first.trainer.optimizer.state  # released once the run is over: the moments live in last.pth
    assert first.epochs == 1 and 0.0 <= first.best_val_acc <= 1.0
    saved = torch.load(target, weights_only=True)
    assert saved["config"]["split"] == 2 and saved["class_names"] == ["move_left", "move_right", "rotate_cw"]

    def no_training(*args, **kwargs):
        raise AssertionError("load_or_train trained although the checkpoint exists")

    with monkeypatch.context() as m:
        m.setattr(trainer_module.Trainer, "fit", no_training)
        loaded = load_or_train("moe", 2, config=tiny_config(epochs=1), data=clips)
    assert not loaded.trained and loaded.class_names == first.class_names
    for (k, a), b in zip(first.model.state_dict().items(), loaded.model.state_dict().values()):
        assert torch.equal(a, b), k
    video = torch.randn(2, 3, 4, 16, 16)
    with torch.no_grad():
        assert torch.equal(first.model(video).logits, loaded.model(video).logits)
    model, state = load_trained(target)  # what the RL and compression steps load a checkpoint with
    assert not model.training and state["class_names"] == first.class_names
    with torch.no_grad():
        assert torch.equal(model(video).logits, first.model(video).logits)
    with pytest.raises(FileNotFoundError, match="04_training.ipynb"):
        load_trained(tmp_path / "models" / "missing.pth")

    before = target.stat().st_mtime_ns
    forced = load_or_train("moe", 2, config=tiny_config(epochs=1, seed=1), data=clips, force=True)
    assert forced.trained and target.stat().st_mtime_ns != before
    assert torch.load(target, weights_only=True)["config"]["seed"] == 1


def test_a_damaged_best_checkpoint_is_an_error_not_a_silent_retrain(clips, tmp_path, monkeypatch):
    use_tmp_settings(monkeypatch, tmp_path)
    target = checkpoint_path("moe", 1)
    target.parent.mkdir(parents=True)
    target.write_bytes(b"PK\x03\x04" + b"\x00" * 100)
    with pytest.raises(CheckpointError, match="moe_split1_best.pth"):
        load_or_train("moe", 1, config=tiny_config(epochs=1), data=clips)
    assert target.read_bytes() == b"PK\x03\x04" + b"\x00" * 100


def test_cli_prints_one_json_object_last(clips, tmp_path, monkeypatch, capsys):
    use_tmp_settings(monkeypatch, tmp_path)
    code = train_main(["--model", "moe", "--split", "3", "--data", str(clips), "--epochs", "1", "--smoke",
                       "--num-frames", "4", "--crop", "16", "--batch-size", "4"])
    assert code == 0
    last = capsys.readouterr().out.strip().splitlines()[-1]
    summary = json.loads(last)
    assert summary["epochs"] == 1 and 0.0 <= summary["best_val_acc"] <= 1.0
    assert summary["checkpoint"] == str(tmp_path / "models" / "moe_split3_best.pth")
    assert summary["trained"] is True


def test_cli_reports_a_damaged_checkpoint_in_one_line(clips, tmp_path, monkeypatch, capsys):
    use_tmp_settings(monkeypatch, tmp_path)
    (tmp_path / "models").mkdir()
    (tmp_path / "models" / "moe_split1_best.pth").write_bytes(b"garbage")
    assert train_main(["--model", "moe", "--split", "1", "--data", str(clips), "--smoke"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("train: ") and "moe_split1_best.pth" in err[0]
