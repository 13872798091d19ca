"""Mixup in the trainer: the model sees λ-blended clips, the loss is cross-entropy on the
same blend of the labels, λ is reproducible per (seed, epoch, batch), and in
distillation the teacher sees exactly the clips the student sees (consistent teaching)."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch
import torch.nn.functional as F
from torch import nn

from helpers.compression.distillation import DistillationConfig, KnowledgeDistillation
from helpers.training import Callback, TrainConfig, Trainer
from helpers.training.mixup import mix_clips, mixup_lambda, mixup_targets

NUM_CLASSES = 5


class Recording(nn.Module):
    """A linear classifier over the mean of each clip that keeps every input it saw."""

    def __init__(self, logits_only: bool = False) -> None:
        super().__init__()
        self.fc = nn.Linear(3, NUM_CLASSES)
        self.seen: list[torch.Tensor] = []
        self.logits_only = logits_only

    def forward(self, video):
        if self.training or self.logits_only:
            self.seen.append(video.detach().clone())
        logits = self.fc(video.mean(dim=(2, 3, 4)))
        return logits if self.logits_only else SimpleNamespace(logits=logits, aux_loss=None)


class Losses(Callback):
    def __init__(self) -> None:
        self.rows: list[dict] = []

    def on_batch_end(self, trainer, info):
        self.rows.append(info)


def batches(n: int = 3, b: int = 4) -> list[dict]:
    g = torch.Generator().manual_seed(0)
    return [{"video": torch.randn(b, 3, 2, 4, 4, generator=g), "label": torch.randint(0, NUM_CLASSES, (b,), generator=g)}
            for _ in range(n)]


def config(**kw) -> TrainConfig:
    return TrainConfig.smoke("moe", epochs=1, lr=0.0, warmup_epochs=0.0, grad_clip=None, seed=3, **kw)


def test_lambda_is_a_pure_function_of_seed_epoch_and_batch():
    a = [mixup_lambda(0.4, 3, 1, i) for i in range(50)]
    assert a == [mixup_lambda(0.4, 3, 1, i) for i in range(50)]  # a resumed run draws the same
    assert a != [mixup_lambda(0.4, 3, 2, i) for i in range(50)]
    assert all(0.0 <= v <= 1.0 for v in a) and len(set(a)) == 50
    # Beta(0.4, 0.4) is U-shaped: most draws near 0 or 1, mean 0.5
    many = [mixup_lambda(0.4, 0, 0, i) for i in range(2000)]
    assert abs(sum(many) / len(many) - 0.5) < 0.03
    assert sum(v < 0.1 or v > 0.9 for v in many) / len(many) > 0.4
    with pytest.raises(ValueError, match="alpha"):
        mixup_lambda(0.0, 0, 0, 0)


def test_clips_and_targets_blend_with_the_next_clip():
    video = torch.arange(3.0).view(3, 1, 1, 1, 1).expand(3, 2, 2, 2, 2)
    mixed = mix_clips(video, 0.75)
    assert mixed[:, 0, 0, 0, 0].tolist() == [0.75 * 0 + 0.25 * 2, 0.75 * 1 + 0.25 * 0, 0.75 * 2 + 0.25 * 1]
    t = mixup_targets(torch.tensor([0, 1, 1]), 0.75, 3)
    assert t.tolist() == [[0.75, 0.25, 0.0], [0.25, 0.75, 0.0], [0.0, 1.0, 0.0]]
    assert torch.equal(mix_clips(video, 1.0), video)


def test_trainer_feeds_blended_clips_and_scores_them_against_blended_labels(tmp_path):
    data = batches()
    model, log = Recording(), Losses()
    cfg = config(mixup_alpha=0.4)
    Trainer(model, cfg, data, None, run_dir=tmp_path, device="cpu", callbacks=[log]).fit()
    assert len(model.seen) == len(data)
    for i, (seen, batch, row) in enumerate(zip(model.seen, data, log.rows)):
        lam = mixup_lambda(0.4, cfg.seed, 1, i)
        assert 0.0 < lam < 1.0
        assert torch.allclose(seen, mix_clips(batch["video"], lam))
        with torch.no_grad():
            logits = model.fc(seen.mean(dim=(2, 3, 4)))  # lr 0: the weights never moved
        soft = mixup_targets(batch["label"], lam, NUM_CLASSES)
        expected = -(soft * F.log_softmax(logits, -1)).sum(-1).mean()
        assert row["loss"] == pytest.approx(float(expected), rel=1e-5)
    # without mixup the same loop sees the clips as they are
    plain = Recording()
    Trainer(plain, config(), data, None, run_dir=tmp_path / "plain", device="cpu").fit()
    assert all(torch.equal(s, b["video"]) for s, b in zip(plain.seen, data))


def test_distillation_teacher_sees_the_students_blended_clips(tmp_path):
    data = batches()
    teacher, student = Recording(logits_only=True), Recording(logits_only=True)
    KnowledgeDistillation(teacher, student, DistillationConfig(alpha=0.9, epochs=1, lr=0.0, mixup_alpha=0.4)).fit(
        data, run_dir=tmp_path, train_config=config())
    assert len(teacher.seen) == len(data)
    assert all(torch.equal(t, s) for t, s in zip(teacher.seen, student.seen))
    assert not torch.equal(teacher.seen[0], data[0]["video"])  # blended, not the raw batch


def test_mixup_is_refused_for_the_multimodal_model(tmp_path):
    from helpers.models import MultiModalConfig, MultiModalVideoModel

    model = MultiModalVideoModel(MultiModalConfig.smoke(3, audio="none", caption_decoder="none"))
    with pytest.raises(ValueError, match="video-only"):
        Trainer(model, config(mixup_alpha=0.2), batches(), None, run_dir=tmp_path, device="cpu")
