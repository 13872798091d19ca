"""Data-parallel training on CPU: two processes joined by gloo (through ``accelerate``,
as on Kaggle's two GPUs) train a few steps and end with the same weights."""
from __future__ import annotations

import pytest
import torch

from helpers.training.distributed import launch_cpu, train_worker
from training_data import make_hmdb51, tiny_config, use_tmp_settings

pytestmark = pytest.mark.timeout(300)  # hang guard


def test_two_gloo_processes_end_with_identical_weights(tmp_path, monkeypatch):
    use_tmp_settings(monkeypatch, tmp_path)
    clips = make_hmdb51(tmp_path / "hmdb")
    config = tiny_config(epochs=2, batch_size=2)  # 12 clips: 3 steps per rank and epoch
    out = tmp_path / "weights"
    launch_cpu(train_worker, args=(config.to_dict(), str(clips), str(tmp_path / "models"), True, str(out)),
               num_processes=2)
    saved = [torch.load(out / f"rank{r}.pt", weights_only=True) for r in (0, 1)]
    # each rank saw its half of the data (3 batches of 2 per epoch, not 6): gradients
    # from different samples, so equal weights mean they were averaged across ranks
    assert [s["world_size"] for s in saved] == [2, 2] and [s["steps"] for s in saved] == [6, 6]
    rank0, rank1 = saved[0]["params"], saved[1]["params"]
    assert rank0.keys() == rank1.keys() and len(rank0) > 50
    assert [k for k in rank0 if not torch.equal(rank0[k], rank1[k])] == []
    # they trained: the weights moved away from the seeded initialisation
    from helpers.training.experiment import build_model, model_config_for

    torch.manual_seed(config.seed)
    init = dict(build_model("moe", model_config_for(config, 3)).named_parameters())
    moved = [k for k in rank0 if not torch.equal(init[k].detach(), rank0[k])]
    assert len(moved) > len(rank0) // 2
    assert (tmp_path / "models" / "moe_split1_best.pth").is_file()
    # validation gathered across the ranks: the loss is its terms' sum (classification and
    # the MoE's balance term, weight 1) in every epoch the checkpoint holds
    history = torch.load(tmp_path / "models" / "moe_split1_best.pth", weights_only=False)["history"]
    assert history and all("val_loss_cls" in row for row in history)
    for row in history:
        assert row["val_loss"] == pytest.approx(row["val_loss_cls"] + row["val_loss_aux"], rel=1e-4)
