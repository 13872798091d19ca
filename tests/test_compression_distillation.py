"""KD loss against a hand computation; students train a few steps; the fast student's shapes,
motion sensitivity and TorchScript round trip."""
from __future__ import annotations

import math

import pytest
import torch
import torch.nn.functional as F

from helpers.compression.distillation import (DistillationConfig, KnowledgeDistillation, create_fast_student,
                                              create_frame_student, create_student_model, kd_loss, train_plain)
from helpers.compression.export import export_torchscript, load_exported
from helpers.models import ActionMoEConfig, ActionMoEDynamicModel


def test_kd_loss_matches_hand_computation():
    s = torch.tensor([[1.0, 2.0, 0.5]])
    t = torch.tensor([[0.0, 3.0, 1.0]])
    y = torch.tensor([2])
    T, alpha = 2.0, 0.25
    ps = [math.exp(v / T) for v in (1.0, 2.0, 0.5)]
    pt = [math.exp(v / T) for v in (0.0, 3.0, 1.0)]
    ps = [p / sum(ps) for p in ps]
    pt = [p / sum(pt) for p in pt]
    kl = sum(q * math.log(q / p) for p, q in zip(ps, pt))
    ce = -math.log(math.exp(0.5) / sum(math.exp(v) for v in (1.0, 2.0, 0.5)))
    want = (1 - alpha) * ce + alpha * T * T * kl
    assert float(kd_loss(s, t, y, T, alpha)) == pytest.approx(want, rel=1e-6)


def test_kd_loss_is_cross_entropy_at_alpha_zero_and_kl_when_teacher_equals():
    torch.manual_seed(0)
    s, t, y = torch.randn(4, 5), torch.randn(4, 5), torch.tensor([0, 1, 2, 3])
    assert torch.allclose(kd_loss(s, t, y, 4.0, 0.0), F.cross_entropy(s, y))
    assert float(kd_loss(s, s, y, 4.0, 1.0)) == pytest.approx(0.0, abs=1e-6)


def _batches(n=2, b=4, t=4, size=32, classes=3):
    g = torch.Generator().manual_seed(0)
    return [{"video": torch.randn(b, 3, t, size, size, generator=g),
             "label": torch.randint(0, classes, (b,), generator=g)} for _ in range(n)]


def test_frame_student_distils_a_few_steps(tmp_path):
    torch.manual_seed(0)
    teacher = ActionMoEDynamicModel(ActionMoEConfig.smoke(num_classes=3, backbone_width=16)).eval()
    student = create_frame_student(3)
    before = [p.detach().clone() for p in student.parameters()]
    batches = _batches()
    kd = KnowledgeDistillation(teacher, student, DistillationConfig(epochs=1, lr=1e-3))
    out = kd.fit(batches, run_dir=tmp_path)
    assert out(batches[0]["video"]).shape == (4, 3)
    assert any(not torch.equal(a, b) for a, b in zip(before, out.parameters()))
    assert all(p.requires_grad for p in out.parameters())
    assert teacher.training is False


def test_scaled_student_is_smaller_and_trains(tmp_path):
    torch.manual_seed(0)
    teacher = ActionMoEDynamicModel(ActionMoEConfig.smoke(num_classes=3, backbone_width=16)).eval()
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    student = create_student_model(teacher, 0.5, example=torch.randn(1, 3, 2, 16, 16))
    n_s = sum(p.numel() for p in student.parameters())
    n_t = sum(p.numel() for p in teacher.parameters())
    assert n_s < 0.5 * n_t
    out = KnowledgeDistillation(teacher, student, DistillationConfig(epochs=1, feature_weight=0.1)).fit(
        _batches(n=1, b=2, size=16), run_dir=tmp_path)
    assert out(torch.randn(2, 3, 4, 32, 32)).logits.shape == (2, 3)
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, teacher_before[k]), k
    assert all(p.requires_grad for p in teacher.parameters())  # frozen only while distilling


def test_fast_student_shapes_any_resolution_and_motion_sensitivity():
    torch.manual_seed(0)
    student = create_fast_student(5).eval()
    clip = torch.randn(2, 3, 8, 32, 32)
    with torch.no_grad():
        assert student(clip).shape == (2, 5)
        assert student(torch.randn(1, 3, 16, 112, 112)).shape == (1, 5)  # trained at 32 px, timed at 112 px
        # a static clip has exactly zero motion features (the module's zero-in, zero-out property)
        static = clip[:, :, :1].expand(-1, -1, 8, -1, -1).contiguous()
        b, c, t, h, w = static.shape
        x = student.stem(static.transpose(1, 2).reshape(b * t, c, h, w))
        fmap = x.reshape(b, t, *x.shape[1:]).transpose(1, 2)
        assert torch.count_nonzero(student.motion.features(fmap)) == 0
        # the same frames in reverse order are a different clip to it (motion direction is seen)
        assert not torch.allclose(student(clip), student(clip.flip(2)), atol=1e-4)
    n = sum(p.numel() for p in student.parameters())
    assert n < 100_000  # 85 k: 17x fewer than the MobileNetV3-small frame student (1.4 M)


def test_fast_student_loss_decreases_with_and_without_teacher(tmp_path):
    torch.manual_seed(0)
    batches = _batches(n=2, b=4, t=6, size=24, classes=3)
    teacher = ActionMoEDynamicModel(ActionMoEConfig.smoke(num_classes=3, backbone_width=16)).eval()

    def loss_of(model):
        model.eval()
        with torch.no_grad():
            return float(sum(F.cross_entropy(model(b["video"]), b["label"]) for b in batches))

    for kd in (False, True):
        torch.manual_seed(0)
        student = create_fast_student(3)
        before = loss_of(student)
        if kd:
            out = KnowledgeDistillation(teacher, student, DistillationConfig(epochs=4, lr=3e-3, alpha=0.3)).fit(
                batches, run_dir=tmp_path / "kd")
        else:
            out = train_plain(student, batches, run_dir=tmp_path / "plain", epochs=4, lr=3e-3)
        after = loss_of(out)
        assert after < 0.7 * before, (kd, before, after)


def test_fast_student_exports_and_reloads_matching(tmp_path):
    torch.manual_seed(0)
    student = create_fast_student(4).eval()
    path = export_torchscript(student, tmp_path / "student.pt", torch.randn(1, 3, 8, 32, 32))
    loaded = load_exported(path)
    for shape in [(1, 3, 8, 32, 32), (2, 3, 12, 56, 48)]:  # traced once, runs at other sizes too
        x = torch.randn(*shape)
        with torch.no_grad():
            want, got = student(x), loaded(x)
        assert got.shape == (shape[0], 4)
        assert torch.allclose(want, got, atol=1e-5)


def test_frame_student_sees_motion_through_the_motion_cues():
    """MobileNet's stem map goes through the Motion Dynamics Module: a static clip gives
    exactly zero motion features, reversing a moving clip changes the logits."""
    torch.manual_seed(0)
    student = create_frame_student(3).eval()
    assert student.motion is not None and student.classifier.in_features == 2 * 128
    static = torch.randn(1, 3, 1, 32, 32).expand(1, 3, 6, 32, 32).contiguous()
    with torch.no_grad():
        _, stem_map = student._encode(static)
        assert stem_map.shape == (1, 16, 6, 16, 16)
        assert torch.count_nonzero(student.motion.features(stem_map)) == 0
        moving = torch.randn(2, 3, 6, 32, 32)
        assert not torch.allclose(student(moving), student(moving.flip(2)), atol=1e-4)
    plain = create_frame_student(3, motion_cues=False)
    assert plain.motion is None and plain(torch.randn(1, 3, 4, 32, 32)).shape == (1, 3)


def _multimodal_pair(classes: int = 2):
    """A smoke teacher (wav2vec2 sound) and a student-preset model at smoke width
    (log-mel sound), sharing a caption vocabulary."""
    from helpers.models import MultiModalConfig, MultiModalVideoModel, make_demo_batch

    batch = make_demo_batch(batch_size=4, num_frames=8, size=32, fps=4.0, num_classes=classes)
    torch.manual_seed(0)
    teacher = MultiModalVideoModel(MultiModalConfig.smoke(classes).with_captions(batch["caption"])).eval()
    student_cfg = MultiModalConfig.student(classes, vision_pretrained=False, vision_norm="group", dim=32, heads=2,
                                           caption_vocab=teacher.config.caption_vocab)
    return teacher, MultiModalVideoModel(student_cfg), batch


def test_multimodal_step_adds_the_teachers_soft_targets_to_the_students_own_outputs():
    from helpers.compression.distillation import MultiModalDistillStep, soft_target_loss
    from helpers.training.tasks import task_outputs

    teacher, student, batch = _multimodal_pair()
    assert student.config.audio == "logmel" and teacher.config.audio == "wav2vec2"
    step = MultiModalDistillStep(teacher, student, DistillationConfig(alpha=0.4, temperature=2.0)).train()
    torch.manual_seed(1)
    out = task_outputs(step, batch)
    torch.manual_seed(1)
    alone = task_outputs(student, batch)
    torch.testing.assert_close(out.logits, alone.logits)
    assert out.caption_logits is not None and out.sync_logits is not None  # captions and sync train as alone
    assert out.sync_logits.shape[0] == 2 * out.logits.shape[0]
    with torch.no_grad():
        want = 0.4 * soft_target_loss(alone.logits, teacher(**{k: batch[k] for k in
                                                                 ("video", "frame_times", "audio", "audio_mask")})["logits"], 2.0)
    assert float(out.aux_loss.detach()) == pytest.approx(float(want), rel=1e-5) and float(want) > 0
    assert teacher.training is False and not any(p.requires_grad for p in teacher.parameters())


def test_multimodal_student_distils_a_few_steps_and_leaves_the_teacher(tmp_path):
    from helpers.training import TrainConfig

    teacher, student, batch = _multimodal_pair()
    teacher_before = {k: v.clone() for k, v in teacher.state_dict().items()}
    flags = [p.requires_grad for p in teacher.parameters()]  # wav2vec2's feature encoder is frozen
    before = {k: v.detach().clone() for k, v in student.named_parameters()}
    cfg = TrainConfig.smoke("multimodal", num_frames=8, crop=32)
    out = KnowledgeDistillation(teacher, student, DistillationConfig(epochs=2, lr=1e-3, alpha=0.5)).fit(
        [batch], run_dir=tmp_path, train_config=cfg)
    assert out is student and out.training is False
    moved = [k for k, v in out.named_parameters() if not torch.equal(v, before[k])]
    assert any(k.startswith("audio_encoder.") for k in moved) and any(k.startswith("caption.") for k in moved)
    for k, v in teacher.state_dict().items():
        assert torch.equal(v, teacher_before[k]), k
    assert [p.requires_grad for p in teacher.parameters()] == flags and any(flags)  # handed back as it came
