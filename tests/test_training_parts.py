"""The trainer's parts: parameter groups, LR schedules, the multi-task loss, metrics,
config round trips and the history plot."""
from __future__ import annotations

import math

import matplotlib
import pytest
import torch
from torch import nn

from helpers.training import LossWeights, MultiTaskLoss, TrainConfig, param_groups, plot_history
from helpers.training.losses import TaskOutputs, caption_loss, sync_loss
from helpers.training.optim import build_optimizer, build_scheduler, warmup_cosine
from helpers.training.tasks import topk_correct


class Tiny(nn.Module):
    def __init__(self) -> None:
        super().__init__()
        self.backbone = nn.Sequential(nn.Conv1d(2, 4, 3), nn.BatchNorm1d(4))
        self.head = nn.Linear(4, 3)


def test_param_groups_split_backbone_and_no_decay():
    groups = {g["name"]: g for g in param_groups(Tiny(), lr=1e-3, weight_decay=0.05, backbone_lr_mult=0.1)}
    assert set(groups) == {"backbone", "backbone_no_decay", "head", "head_no_decay"}
    assert groups["backbone"]["lr"] == pytest.approx(1e-4) and groups["head"]["lr"] == pytest.approx(1e-3)
    assert groups["backbone"]["weight_decay"] == 0.05 and groups["head_no_decay"]["weight_decay"] == 0.0
    assert [p.shape for p in groups["backbone"]["params"]] == [torch.Size([4, 2, 3])]
    assert len(groups["backbone_no_decay"]["params"]) == 3  # conv bias, BN weight and bias
    model = Tiny()
    model.backbone.requires_grad_(False)
    assert {g["name"] for g in param_groups(model, 1e-3, 0.0)} == {"head", "head_no_decay"}


def test_warmup_then_cosine():
    values = [warmup_cosine(s, total=100, warmup=10, min_ratio=0.01) for s in range(100)]
    assert values[0] == pytest.approx(0.1) and values[9] == pytest.approx(1.0)
    assert values[10] == pytest.approx(1.0) and values[55] == pytest.approx(0.01 + 0.99 * 0.5, abs=1e-9)
    assert values[-1] == pytest.approx(0.01, abs=1e-3)
    assert all(a >= b for a, b in zip(values[10:], values[11:]))


def test_schedulers_from_the_config():
    model = Tiny()
    cfg = TrainConfig(epochs=2, warmup_epochs=1, lr=1e-2)
    opt = build_optimizer(model, cfg)
    sched, per_step = build_scheduler(opt, cfg, steps_per_epoch=4)
    assert per_step and max(g["lr"] for g in opt.param_groups) == pytest.approx(1e-2 / 4)
    cfg = TrainConfig(scheduler="plateau", plateau_patience=0, plateau_factor=0.5, lr=1e-2)
    opt = build_optimizer(model, cfg)
    sched, per_step = build_scheduler(opt, cfg, steps_per_epoch=4)
    assert not per_step
    sched.step(0.5)
    sched.step(0.5)  # no improvement, patience 0: halve
    assert max(g["lr"] for g in opt.param_groups) == pytest.approx(5e-3)


def test_multitask_loss_weights_and_masks():
    torch.manual_seed(0)
    logits, labels = torch.randn(4, 3), torch.tensor([0, 1, 2, 0])
    ids = torch.tensor([[1, 5, 6, 2, 0], [1, 7, 2, 0, 0]])
    cap_logits = torch.randn(2, 5, 9)
    sync_logits, sync_labels = torch.randn(4), torch.tensor([1.0, 1.0, 0.0, 0.0])
    mask = torch.tensor([True, False, True, False])
    out = TaskOutputs(logits=logits, labels=labels, aux_loss=torch.tensor(0.3), caption_logits=cap_logits,
                      caption_ids=ids, sync_logits=sync_logits, sync_labels=sync_labels, sync_mask=mask)
    total, parts = MultiTaskLoss(LossWeights(cls=1.0, caption=0.5, sync=2.0, aux=1.0))(out)
    ce = nn.functional.cross_entropy(logits, labels)
    # caption: positions predicting [5, 6, 2] and [7, 2]; the padding does not count
    cap = nn.functional.cross_entropy(torch.cat([cap_logits[0, :3], cap_logits[1, :2]]), torch.tensor([5, 6, 2, 7, 2]))
    sync = nn.functional.binary_cross_entropy_with_logits(sync_logits[mask], sync_labels[mask])
    assert parts["cls"] == pytest.approx(float(ce)) and parts["caption"] == pytest.approx(float(cap))
    assert parts["sync"] == pytest.approx(float(sync)) and parts["aux"] == pytest.approx(0.3)
    assert float(total) == pytest.approx(float(ce + 0.5 * cap + 2.0 * sync + 0.3), rel=1e-6)
    assert caption_loss(cap_logits, ids) == pytest.approx(float(cap))
    assert sync_loss(sync_logits, sync_labels, torch.zeros(4, dtype=torch.bool)) is None
    only_cls = MultiTaskLoss()(TaskOutputs(logits=logits, labels=labels))
    assert set(only_cls[1]) == {"cls"}


def test_label_smoothing_and_topk():
    logits = torch.tensor([[3.0, 2.0, 1.0, 0.0], [0.0, 1.0, 2.0, 3.0]])
    labels = torch.tensor([1, 3])
    hits = topk_correct(logits, labels, (1, 2, 5))
    assert hits[1].tolist() == [False, True] and hits[2].tolist() == [True, True] and hits[5].all()
    plain, _ = MultiTaskLoss()(TaskOutputs(logits=logits, labels=labels))
    smooth, _ = MultiTaskLoss(label_smoothing=0.1)(TaskOutputs(logits=logits, labels=labels))
    assert float(smooth) == pytest.approx(float(nn.functional.cross_entropy(logits, labels, label_smoothing=0.1)))
    assert float(smooth) != float(plain)


def test_config_round_trip_and_validation():
    cfg = TrainConfig.smoke("multimodal", epochs=3)
    assert TrainConfig.from_dict({**cfg.to_dict(), "from_the_future": 1}) == cfg
    assert TrainConfig.smoke("moe").model_overrides == {"backbone_width": 16}
    assert TrainConfig.full("moe").crop == 112 and TrainConfig.full("moe").num_frames == 16
    with pytest.raises(ValueError, match="split"):
        TrainConfig(split=4)
    with pytest.raises(ValueError, match="model"):
        TrainConfig(model="resnet")


def test_history_plot_has_four_panels():
    history = [{"epoch": e, "lr": 1e-3 / e, "train_loss": 1 / e, "train_loss_aux": 0.01, "val_loss": 1.2 / e,
                "train_acc": 0.3 * e, "val_acc": 0.25 * e, "val_top5": 1.0, "best": True,
                "expert_usage": [0.5, 0.25, 0.25, 0.0]} for e in (1, 2, 3)]
    fig = plot_history(history, "t")
    assert isinstance(fig, matplotlib.figure.Figure) and len(fig.axes) == 4
    acc = fig.axes[1]
    assert [tuple(line.get_ydata()) for line in acc.get_lines()][1] == pytest.approx((25.0, 50.0, 75.0))
    assert len(fig.axes[3].collections) == 4  # one band per expert
    assert not math.isnan(fig.axes[2].get_lines()[0].get_ydata()[0])
