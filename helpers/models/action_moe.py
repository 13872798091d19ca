"""Model A, ``ActionMoEDynamicModel``: R(2+1)D-18 appearance features + a Motion
Dynamics Module, fused by a gated residual, then a noisy top-k mixture of experts and
a linear classifier. The HMDB51 model of the series.

    video (B,3,T,H,W) ─ stem ─ layer1 ─┬─ layer2 ─ layer3 ─ layer4 ─ avgpool ─ appearance (B,512)
                                       └─ MotionDynamicsModule ─────────────── motion (B,512)
    fused = appearance + sigmoid(W[appearance; motion]) * motion
    moe_out, routing = DynamicTopKMoE(fused);  logits = fc(dropout(moe_out))

The Motion Dynamics Module reads brightness-constancy motion cues (differences × spatial
gradients, and their global translation/rotation/dilation sums; see :mod:`.motion`):
without them the model memorised appearance on the generated data instead of motion.

The forward returns :class:`ActionMoEOutput` (logits, aux_loss, routing, features) so a
training loop adds ``aux_loss`` to the task loss and plots read ``routing`` — no hooks.
"""
from __future__ import annotations

from dataclasses import asdict, dataclass, field, replace
from typing import Literal

from torch import Tensor, nn

from .backbones import R2PLUS1D_STAGES, build_r2plus1d, stage_channels
from .moe import DynamicTopKMoE, RoutingInfo
from .motion import GatedResidualFusion, MotionDynamicsModule

FreezeUpTo = Literal["none", "stem", "layer1", "layer2", "layer3", "layer4"]


@dataclass
class ActionMoEConfig:
    """Everything that shapes model A. ``full()`` is the real model, ``smoke()`` a
    same-code-path miniature that builds and runs on a CPU in about a second."""

    num_classes: int = 51
    pretrained: bool = True
    backbone_layers: tuple[int, int, int, int] = (2, 2, 2, 2)
    backbone_width: int = 64  # first-stage channels; 64 = R(2+1)D-18 (narrower: CPU smoke runs, no pretrained weights)
    temporal_padding: Literal["zeros", "replicate"] = "replicate"
    freeze: FreezeUpTo = "none"  # freeze every stage up to and including this one
    motion_stage: Literal["stem", "layer1", "layer2", "layer3"] = "layer1"
    motion_hidden: int = 64
    num_experts: int = 8
    k: int = 2
    expert_hidden: int = 1024
    gate_hidden: int = 256
    noise_std: float = 1.0
    aux_loss_weight: float = 0.01
    dropout: float = 0.5

    @classmethod
    def full(cls, num_classes: int = 51, **overrides) -> "ActionMoEConfig":
        """R(2+1)D-18 and 8 experts (Kinetics-400 weights when reachable)."""
        return cls(num_classes=num_classes, **overrides)

    @classmethod
    def for_size(cls, num_classes: int = 51, size: str | None = None, **overrides) -> "ActionMoEConfig":
        """The preset of ``size`` (default: the active size, :func:`helpers.settings.size`)."""
        from helpers.settings import chosen_size

        return getattr(cls, chosen_size(size))(num_classes, **overrides)

    @classmethod
    def demo(cls, num_classes: int = 51, **overrides) -> "ActionMoEConfig":
        """The demo size's model: the smoke miniature (what ``TrainConfig.demo`` trains)."""
        return cls.smoke(num_classes, **overrides)

    @classmethod
    def smoke(cls, num_classes: int = 5, **overrides) -> "ActionMoEConfig":
        base = dict(pretrained=False, backbone_layers=(1, 1, 1, 1), motion_hidden=16, num_experts=4, k=2,
                    expert_hidden=64, gate_hidden=32, dropout=0.0)
        base.update(overrides)
        return cls(num_classes=num_classes, **base)

    def to_dict(self) -> dict:
        return asdict(self)


def backbone_features(backbone: nn.Module, motion_stage: str, video: Tensor) -> tuple[Tensor, Tensor]:
    """The R(2+1)D trunk: pooled appearance features (B, 512) and the feature map of
    ``motion_stage`` that the Motion Dynamics Module reads (the model and its export
    view both call this)."""
    x, motion_map = video, video
    for name in R2PLUS1D_STAGES:
        x = getattr(backbone, name)(x)
        if name == motion_stage:
            motion_map = x
    return backbone.avgpool(x).flatten(1), motion_map


@dataclass
class ActionMoEOutput:
    """logits (B, classes); aux_loss () to add to the task loss; routing (see
    :class:`RoutingInfo`); appearance/motion/fused (B, 512) features; motion_energy (B,)."""

    logits: Tensor
    aux_loss: Tensor
    routing: RoutingInfo
    appearance: Tensor
    motion: Tensor
    fused: Tensor
    motion_energy: Tensor = field(default=None)


class ActionMoEDynamicModel(nn.Module):
    """R(2+1)D + Motion Dynamics + noisy top-k MoE classifier (see module docstring).

    Input: Kinetics-normalised video (B, 3, T, H, W), any T >= 1 and H, W >= 16.
    """

    def __init__(self, config: ActionMoEConfig | None = None) -> None:
        super().__init__()
        self.config = cfg = config or ActionMoEConfig.full()
        if cfg.motion_stage not in R2PLUS1D_STAGES[:-1]:
            raise ValueError(f"motion_stage must be one of {R2PLUS1D_STAGES[:-1]}, got {cfg.motion_stage!r}")
        self.backbone = build_r2plus1d(cfg.pretrained, cfg.backbone_layers, cfg.temporal_padding, cfg.backbone_width)
        self.weights_source = self.backbone.weights_source
        channels = stage_channels(cfg.backbone_width)
        dim = channels["layer4"]
        self.motion = MotionDynamicsModule(channels[cfg.motion_stage], cfg.motion_hidden, dim)
        self.fusion = GatedResidualFusion(dim)
        self.moe = DynamicTopKMoE(dim, cfg.num_experts, cfg.k, cfg.expert_hidden, cfg.gate_hidden,
                                  cfg.noise_std, cfg.aux_loss_weight)
        self.dropout = nn.Dropout(cfg.dropout)
        self.classifier = nn.Linear(dim, cfg.num_classes)
        self._frozen: list[nn.Module] = []
        self.freeze(cfg.freeze)

    def rebuild_config(self) -> ActionMoEConfig:
        """The config that rebuilds this architecture with no download (the weights then
        come from a checkpoint): the pretrained flag off, everything else as built."""
        return replace(self.config, pretrained=False)

    def freeze(self, up_to: FreezeUpTo) -> None:
        """Stop gradients for the backbone stages up to and including ``up_to`` and keep
        their BatchNorm statistics fixed (those stages stay in eval mode)."""
        if up_to != "none" and up_to not in R2PLUS1D_STAGES:
            raise ValueError(f"freeze must be 'none' or one of {R2PLUS1D_STAGES}, got {up_to!r}")
        stop = -1 if up_to == "none" else R2PLUS1D_STAGES.index(up_to)
        self._frozen = []
        for i, name in enumerate(R2PLUS1D_STAGES):
            stage = getattr(self.backbone, name)
            for p in stage.parameters():
                p.requires_grad_(i > stop)
            if i <= stop:
                self._frozen.append(stage)
        self.train(self.training)

    def train(self, mode: bool = True) -> "ActionMoEDynamicModel":
        super().train(mode)
        for stage in getattr(self, "_frozen", []):
            stage.eval()
        return self

    def forward(self, video: Tensor) -> ActionMoEOutput:
        if video.dim() != 5 or video.shape[1] != 3:
            raise ValueError(f"expected video (B, 3, T, H, W), got shape {tuple(video.shape)}")
        appearance, motion_map = backbone_features(self.backbone, self.config.motion_stage, video)
        motion = self.motion(motion_map)
        fused = self.fusion(appearance, motion.features)
        moe_out, routing = self.moe(fused)
        logits = self.classifier(self.dropout(moe_out))
        return ActionMoEOutput(logits=logits, aux_loss=routing.aux_loss, routing=routing, appearance=appearance,
                               motion=motion.features, fused=fused, motion_energy=motion.energy)
