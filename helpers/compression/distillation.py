"""Knowledge distillation (Hinton, Vinyals & Dean 2015) from the trained MoE teacher to
smaller students, and the students; and from a trained multi-modal model to its student
(:class:`MultiModalDistillStep`, the architecture ``MultiModalConfig.student``).

Loss: ``(1 - alpha) * CE(student, y) + alpha * T² * KL(softmax(t/T) || softmax(s/T))``
(+ ``beta * MSE`` between projected student and teacher features when feature
distillation is on). The ``T²`` keeps the soft-target gradients on the same scale as
the hard-label ones when T changes. ``alpha = 0`` is plain cross-entropy.

With ``mixup_alpha > 0`` the Trainer blends the training clips (:mod:`helpers.training.mixup`)
and the teacher scores the same blended clip the student sees; the baseline gets the
same blends with blended labels. That, and a long schedule, is what made distillation
pay off here (numbers in :class:`MotionStudent`).

Training reuses the project's :class:`~helpers.training.trainer.Trainer`: the student
is wrapped in :class:`DistillStep`, whose output carries the student logits and, as the
"auxiliary loss" the Trainer already adds, ``alpha·T²·KL`` (+ features); the Trainer's
class weight is set to ``1 - alpha``. So optimiser, schedule, clipping, evaluation and
checkpoints are the same code as notebook 04's.

Students: :func:`create_student_model` (the seed's API: the same architecture at
``scale_factor`` of the channel widths, built by structured pruning and re-initialised)
and :class:`FrameStudent` (MobileNetV3-small on each frame + a small temporal conv
head), the one fast enough for < 100 ms per 16-frame clip on 2 CPU cores.
"""
from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from .deploy import logits_of


@dataclass
class DistillationConfig:
    temperature: float = 4.0
    alpha: float = 0.7  # weight of the soft (teacher) term; 1 - alpha on the labels
    feature_weight: float = 0.0  # > 0: MSE between student and teacher pooled features
    epochs: int = 3
    lr: float = 1e-3
    max_train_batches: int | None = None
    mixup_alpha: float = 0.0  # > 0: teacher and student see the same blended clips (see helpers.training.mixup)


def kd_loss(student_logits: Tensor, teacher_logits: Tensor, labels: Tensor, temperature: float = 4.0,
            alpha: float = 0.7) -> Tensor:
    """Hinton KD loss (see module docstring), mean over the batch."""
    hard = F.cross_entropy(student_logits, labels)
    return (1.0 - alpha) * hard + alpha * soft_target_loss(student_logits, teacher_logits, temperature)


@dataclass
class _StepOutput:
    logits: Tensor
    aux_loss: Tensor
    routing: Any = None


class DistillStep(nn.Module):
    """Student + frozen teacher; forward returns student logits and the soft KD term
    (already multiplied by alpha) as ``aux_loss`` for the Trainer."""

    def __init__(self, teacher: nn.Module, student: nn.Module, config: DistillationConfig) -> None:
        super().__init__()
        self.student, self.teacher, self.config = student, teacher, config
        for p in self.teacher.parameters():
            p.requires_grad_(False)
        self.feature_proj: nn.Module | None = None

    def train(self, mode: bool = True) -> "DistillStep":
        super().train(mode)
        self.teacher.eval()  # BatchNorm statistics and routing of the teacher stay fixed
        return self

    def forward(self, video: Tensor) -> _StepOutput:
        c = self.config
        s_out = self.student(video)
        s_logits = logits_of(s_out)
        aux = s_logits.new_zeros(())
        t_out = None
        if c.alpha > 0 or c.feature_weight > 0:  # alpha = 0 and no features: labels only, no teacher run
            with torch.no_grad():
                t_out = self.teacher(video)
        if c.alpha > 0:
            aux = aux + c.alpha * soft_target_loss(s_logits, logits_of(t_out), c.temperature)
        s_aux = getattr(s_out, "aux_loss", None)
        if s_aux is not None:
            aux = aux + s_aux
        if c.feature_weight > 0 and t_out is not None and hasattr(s_out, "fused") and hasattr(t_out, "fused"):
            if self.feature_proj is None:
                self.feature_proj = nn.Linear(s_out.fused.shape[-1], t_out.fused.shape[-1]).to(video.device)
            aux = aux + c.feature_weight * F.mse_loss(self.feature_proj(s_out.fused), t_out.fused)
        return _StepOutput(logits=s_logits, aux_loss=aux)


def soft_target_loss(student_logits: Tensor, teacher_logits: Tensor, temperature: float) -> Tensor:
    """``T² · KL(softmax(t/T) ‖ softmax(s/T))``, mean over the batch: Hinton's soft term."""
    t = float(temperature)
    return F.kl_div(F.log_softmax(student_logits / t, dim=-1), F.log_softmax(teacher_logits / t, dim=-1),
                    reduction="batchmean", log_target=True) * (t * t)


class MultiModalDistillStep(nn.Module):
    """A multi-modal student and its frozen multi-modal teacher, for the Trainer: the
    student's training outputs are those it gets alone (classes, captions by teacher
    forcing, aligned and shifted sound for the sync head; :func:`helpers.training.tasks.task_outputs`
    calls :meth:`task_outputs`), plus ``alpha·T²·KL`` from the teacher's class scores on
    the same clips as the auxiliary loss. Each model reads the inputs its own audio
    encoder takes (waveform or log-mel): the batch holds both. One process: the step
    calls the student itself, so a DDP wrapper around the step would not see its gradients."""

    def __init__(self, teacher: nn.Module, student: nn.Module, config: DistillationConfig) -> None:
        super().__init__()
        self.student, self.teacher, self.config = student, teacher, config
        for p in self.teacher.parameters():
            p.requires_grad_(False)

    def train(self, mode: bool = True) -> "MultiModalDistillStep":
        super().train(mode)
        self.teacher.eval()
        return self

    def task_outputs(self, batch: dict[str, Any], *, sync: bool = True, captions: bool = True) -> Any:
        from helpers.training.tasks import MULTIMODAL_INPUTS, task_outputs

        out = task_outputs(self.student, batch, sync=sync, captions=captions)
        if self.config.alpha > 0:
            inputs = {k: batch[k] for k in MULTIMODAL_INPUTS if k in batch}
            with torch.no_grad():
                teacher_logits = self.teacher(**inputs)["logits"]
            out.aux_loss = self.config.alpha * soft_target_loss(out.logits, teacher_logits, self.config.temperature)
        return out


class KnowledgeDistillation:
    """Train ``student`` to match ``teacher`` (see module docstring)."""

    def __init__(self, teacher: nn.Module, student: nn.Module, config: DistillationConfig | None = None) -> None:
        self.teacher, self.student = teacher.eval(), student
        self.config = config or DistillationConfig()

    def loss(self, student_logits: Tensor, teacher_logits: Tensor, labels: Tensor) -> Tensor:
        return kd_loss(student_logits, teacher_logits, labels, self.config.temperature, self.config.alpha)

    def fit(self, train_loader: Any, val_loader: Any = None, *, run_dir: str | Path,
            train_config: Any = None) -> nn.Module:
        """Distil with the project's Trainer on the settings' device (the GPU when there is
        one); returns the student (eval, CPU) and leaves the teacher where it was."""
        from helpers.settings import get_settings
        from helpers.training import TrainConfig, Trainer
        from helpers.training.tasks import is_multimodal

        c = self.config
        flags = [p.requires_grad for p in self.teacher.parameters()]
        teacher_device = next(self.teacher.parameters(), torch.empty(0)).device
        if c.feature_weight > 0:  # create the projection before the optimiser is built
            self.student.eval()
            probe = next(iter(train_loader))["video"][:1]
            step = DistillStep(self.teacher, self.student, c)
            step.eval()
            with torch.no_grad():
                step(probe)
        elif is_multimodal(self.student):
            step = MultiModalDistillStep(self.teacher, self.student, c)
        else:
            step = DistillStep(self.teacher, self.student, c)
        cfg = (train_config or TrainConfig.smoke("moe")).with_(
            epochs=c.epochs, lr=c.lr, cls_weight=1.0 - c.alpha, aux_weight=1.0, warmup_epochs=0.0,
            backbone_lr_mult=1.0, early_stopping_patience=None, progress=False,
            max_train_batches=c.max_train_batches, mixup_alpha=c.mixup_alpha)
        try:
            trainer = Trainer(step, cfg, train_loader, val_loader, run_dir=run_dir, device=get_settings().device)
            trainer.fit()
        finally:  # DistillStep froze the teacher for the optimiser; hand it back as it came
            for p, flag in zip(self.teacher.parameters(), flags):
                p.requires_grad_(flag)
            self.teacher.to(teacher_device)
        return self.student.cpu().eval()


def train_plain(student: nn.Module, train_loader: Any, val_loader: Any = None, *, run_dir: str | Path,
                epochs: int = 3, lr: float = 1e-3, train_config: Any = None,
                max_train_batches: int | None = None, mixup_alpha: float = 0.0) -> nn.Module:
    """The same student trained on labels only (the baseline that measures the KD gain);
    ``mixup_alpha``: the same blended clips as the distilled arm, with blended labels."""
    kd = KnowledgeDistillation(nn.Identity(), student, DistillationConfig(alpha=0.0, epochs=epochs, lr=lr,
                                                                         max_train_batches=max_train_batches,
                                                                         mixup_alpha=mixup_alpha))
    return kd.fit(train_loader, val_loader, run_dir=run_dir, train_config=train_config)


def create_student_model(model: nn.Module, scale_factor: float = 0.5, *, example: Tensor | None = None,
                         reinit: bool = True) -> nn.Module:
    """The teacher's architecture at ``scale_factor`` of its channel widths (structured
    pruning of ``1 - scale_factor`` of each coupled channel group), re-initialised unless
    ``reinit=False`` (then it starts from the teacher's largest-magnitude channels)."""
    from .pruning import structured_prune

    if not 0.0 < scale_factor <= 1.0:
        raise ValueError(f"scale_factor must be in (0, 1], got {scale_factor}")
    example = example if example is not None else torch.randn(1, 3, 4, 32, 32)
    student, _ = structured_prune(model, 1.0 - scale_factor, example) if scale_factor < 1 else (copy.deepcopy(model), None)
    for p in student.parameters():
        p.requires_grad_(True)
    if reinit:
        for m in student.modules():
            if m is not student and hasattr(m, "reset_parameters"):
                m.reset_parameters()
        if hasattr(student, "moe"):  # keep the documented zero init of the noise layer
            nn.init.zeros_(student.moe.noise.weight)
            nn.init.zeros_(student.moe.noise.bias)
    return student.train()


class FrameStudent(nn.Module):
    """Per-frame 2D student: MobileNetV3-small on every frame → (B, T, 576), a 1D
    temporal conv over frame features (motion classes need the order of frames), a
    temporal difference branch, average pool, linear classifier. Returns logits.

    ``motion_input=True`` (default) feeds each frame together with its difference to
    the next frame (6 input channels, TSN's "RGB difference" modality). ``motion_cues=True``
    (default) also hands MobileNet's own stride-2 stem map, per frame, to the teacher's
    Motion Dynamics Module and joins its features to the temporal head's. Why: after
    global pooling a per-frame feature has lost *where* things are; without the cues this
    student stays at chance on the generated motion classes while it memorises its
    training clips. With ImageNet weights (``pretrained``, on Kaggle) the appearance path
    starts from MobileNetV3-small's features. Accuracy and latency with and without the
    teacher: ``benchmarks/RESULTS.md`` (students)."""

    def __init__(self, num_classes: int, pretrained: bool = False, hidden: int = 128,
                 motion_input: bool = True, motion_cues: bool = True) -> None:
        super().__init__()
        from helpers.models.backbones import FrameEncoder
        from helpers.models.motion import MotionDynamicsModule

        self.encoder = FrameEncoder("mobilenet_v3_small", pretrained=pretrained)
        self.motion_input = motion_input
        stem_channels = self.encoder.net[0][0][0].out_channels
        # the teacher's motion cues on MobileNet's own stride-2 stem map (see MotionStudent for why)
        self.motion = MotionDynamicsModule(stem_channels, 32, hidden) if motion_cues else None
        if motion_input:  # first conv takes (RGB, RGB difference); RGB weights kept, diff weights fresh
            first = self.encoder.net[0][0][0]
            conv = nn.Conv2d(6, first.out_channels, first.kernel_size, first.stride, first.padding, bias=False)
            with torch.no_grad():
                conv.weight[:, :3] = first.weight
            self.encoder.net[0][0][0] = conv
        d = self.encoder.out_dim
        self.temporal = nn.Sequential(nn.Conv1d(2 * d, hidden, 3, padding=1), nn.ReLU(inplace=True),
                                      nn.Conv1d(hidden, hidden, 3, padding=1), nn.ReLU(inplace=True))
        self.classifier = nn.Linear(2 * hidden if motion_cues else hidden, num_classes)

    def encode(self, video: Tensor) -> Tensor:
        """(B, 3, T, H, W) → (B, T, d) per-frame features."""
        return self._encode(video)[0]

    def _encode(self, video: Tensor) -> tuple[Tensor, Tensor | None]:
        """Per-frame features (B, T, d) and, with motion cues, the stem map (B, C, T, H/2, W/2)."""
        from helpers.models.backbones import (IMAGENET_MEAN, IMAGENET_STD, KINETICS_MEAN, KINETICS_STD,
                                              renormalize)

        b, c, t, h, w = video.shape
        frames = renormalize(video.transpose(1, 2).reshape(b * t, c, h, w), KINETICS_MEAN, KINETICS_STD,
                             IMAGENET_MEAN, IMAGENET_STD)
        if self.motion_input:
            frames = frames.reshape(b, t, c, h, w)
            diff = torch.cat([frames[:, 1:] - frames[:, :-1], torch.zeros_like(frames[:, :1])], dim=1)
            frames = torch.cat([frames, diff], dim=2).reshape(b * t, 2 * c, h, w)
        features, pool, flatten = self.encoder.net
        stem = features[0](frames)  # (B·T, C, H/2, W/2)
        f = flatten(pool(features[1:](stem))).reshape(b, t, -1)
        stem_map = stem.reshape(b, t, *stem.shape[1:]).transpose(1, 2) if self.motion is not None else None
        return f, stem_map

    def forward(self, video: Tensor) -> Tensor:
        f, stem_map = self._encode(video)  # (B, T, d)
        diff = torch.cat([f[:, 1:] - f[:, :-1], torch.zeros_like(f[:, :1])], dim=1)
        h = self.temporal(torch.cat([f, diff], dim=2).transpose(1, 2)).mean(dim=2)
        if self.motion is not None:
            h = torch.cat([h, self.motion.features(stem_map)], dim=1)
        return self.classifier(h)


def create_frame_student(num_classes: int, pretrained: bool = False, motion_input: bool = True,
                         motion_cues: bool = True) -> FrameStudent:
    """MobileNetV3-small frame student (ImageNet weights when ``pretrained`` and reachable)."""
    return FrameStudent(num_classes, pretrained=pretrained, motion_input=motion_input, motion_cues=motion_cues)


def _conv_bn_relu(cin: int, cout: int, stride: int) -> nn.Sequential:
    return nn.Sequential(nn.Conv2d(cin, cout, 3, stride, 1, bias=False), nn.BatchNorm2d(cout), nn.ReLU(inplace=True))


class MotionStudent(nn.Module):
    """The fast student: the teacher's motion cues on a tiny per-frame 2D stem.

        video (B,3,T,H,W) ─ per frame: conv3x3/2 ─┬─ map (B,C,T,H/2,W/2) ─ MotionDynamicsModule ─ motion (B,dim)
                                                  └─ conv3x3/2 ×2 ─ pool over space and time ─ linear ─ appearance (B,dim)
        logits = linear([motion; appearance])

    Why this shape: the generated classes differ only in motion, and what made the
    teacher learn them is the Motion Dynamics Module's brightness-constancy cues on an
    early, stride-2 map (:mod:`helpers.models.motion`). A per-frame network that pools
    each frame first (:class:`FrameStudent`) throws away *where* things are, so it has
    to rediscover motion from pooled features. This student keeps the stride-2 map
    (a stride-4 map loses much of the accuracy) and hands it to the same module,
    unchanged; the appearance branch is a small extra.

    Distil it with mixup: the teacher has fit its own training clips, so on those clips
    its soft targets are nearly the labels; on a blended clip it says how much of each
    action it sees, which the λ-blend of two labels does not ("consistent teaching",
    Beyer et al., CVPR 2022). The measured gain, its spread over seeds, the runs without
    mixup and the latency against the teacher: ``benchmarks/RESULTS.md`` (students).
    Fully convolutional with global pooling: trains at 32 px, runs at any H, W >= 8."""

    def __init__(self, num_classes: int, width: int = 16, motion_hidden: int = 32, dim: int = 128) -> None:
        super().__init__()
        from helpers.models.motion import MotionDynamicsModule

        self.stem = _conv_bn_relu(3, width, 2)
        self.motion = MotionDynamicsModule(width, motion_hidden, dim)
        self.appearance = nn.Sequential(_conv_bn_relu(width, 2 * width, 2), _conv_bn_relu(2 * width, 4 * width, 2))
        self.appearance_proj = nn.Linear(4 * width, dim)
        self.classifier = nn.Linear(2 * dim, num_classes)

    def forward(self, video: Tensor) -> Tensor:
        b, c, t, h, w = video.shape
        x = self.stem(video.transpose(1, 2).reshape(b * t, c, h, w))  # (B·T, C, H/2, W/2)
        feature_map = x.reshape(b, t, *x.shape[1:]).transpose(1, 2)  # (B, C, T, H/2, W/2)
        motion = self.motion.features(feature_map)
        appearance = self.appearance(x).mean(dim=(2, 3)).reshape(b, t, -1).mean(dim=1)
        return self.classifier(torch.cat([motion, self.appearance_proj(appearance)], dim=1))


def create_fast_student(num_classes: int, **kwargs: Any) -> MotionStudent:
    """The student for the "< 100 ms per clip" goal: :class:`MotionStudent` (see its docstring for the figures)."""
    return MotionStudent(num_classes, **kwargs)
