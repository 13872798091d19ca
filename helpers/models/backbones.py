"""Pretrained-when-possible feature extractors: the R(2+1)D video backbone of model A
and the per-frame 2D image encoders of model B.

Each builder returns a module whose ``weights_source`` attribute says where its
weights came from ("torchvision KINETICS400_V1", "random init", ...), so a summary
table can show it.
"""
from __future__ import annotations

from typing import Literal

import torch
from torch import Tensor, nn

from .pretrained import hf_from_pretrained, torchvision_state_dict, warn_fallback

KINETICS_MEAN = (0.43216, 0.394666, 0.37645)
KINETICS_STD = (0.22803, 0.22145, 0.216989)
IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

R2PLUS1D_STAGES = ("stem", "layer1", "layer2", "layer3", "layer4")
STAGE_CHANNELS = {"stem": 64, "layer1": 64, "layer2": 128, "layer3": 256, "layer4": 512}


def stage_channels(width: int = 64) -> dict[str, int]:
    """Output channels per stage of an R(2+1)D whose first stage has ``width`` channels
    (64 = torchvision's R(2+1)D-18, i.e. :data:`STAGE_CHANNELS`)."""
    return {"stem": width, "layer1": width, "layer2": 2 * width, "layer3": 4 * width, "layer4": 8 * width}


def build_r2plus1d(
    pretrained: bool = True,
    layers: tuple[int, int, int, int] = (2, 2, 2, 2),
    temporal_padding: Literal["zeros", "replicate"] = "replicate",
    width: int = 64,
) -> nn.Module:
    """torchvision's R(2+1)D-18 (``layers=(2,2,2,2)``) without its ``fc``, loading
    ``R2Plus1D_18_Weights.KINETICS400_V1`` when cached or reachable.

    ``layers`` other than (2,2,2,2) build the same network with fewer blocks (smoke
    configs); no pretrained weights exist for those.

    ``temporal_padding="replicate"`` pads the time axis of every temporal convolution by
    repeating the edge frame instead of zeros. Why: with zero padding a perfectly still
    clip gets different features at its first and last time steps, i.e. fake motion at
    the clip edges that the Motion Dynamics Module would learn from. Spatial padding is
    unchanged; the pretrained weights only see a different value at the two edge steps.
    Every clip length >= 1 works: the temporal stride-2 convolutions map T=1 to T=1.

    ``width`` other than 64 scales every stage's channels (``width``, 2×, 4×, 8×; the
    stem's (2+1)D middle layer keeps torchvision's 45/64 ratio): the same network,
    narrower, for CPU smoke runs and tests (16 is ~16× fewer FLOPs); no pretrained
    weights exist for it.
    """
    from torchvision.models.video import R2Plus1D_18_Weights
    from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D, R2Plus1dStem, VideoResNet

    model = VideoResNet(BasicBlock, [Conv2Plus1D] * 4, list(layers), R2Plus1dStem)
    if width != 64:
        _narrow(model, layers, width)
    model.weights_source = "random init"
    if pretrained:
        what = "torchvision r2plus1d_18 KINETICS400_V1"
        if width != 64:
            warn_fallback(what, f"they exist only for width 64, not {width}")
        elif tuple(layers) != (2, 2, 2, 2):
            warn_fallback(what, f"they exist only for layers (2, 2, 2, 2), not {tuple(layers)}")
        else:
            state = torchvision_state_dict(R2Plus1D_18_Weights.KINETICS400_V1, what)
            if state is not None:
                model.load_state_dict(state)
                model.weights_source = "torchvision KINETICS400_V1"
    model.fc = nn.Identity()
    if temporal_padding == "replicate":
        for m in model.modules():
            if isinstance(m, nn.Conv3d) and m.kernel_size[0] > 1 and m.padding[0] > 0 and m.padding[1:] == (0, 0):
                m.padding_mode = "replicate"
    elif temporal_padding != "zeros":
        raise ValueError(f"temporal_padding must be 'zeros' or 'replicate', got {temporal_padding!r}")
    return model


def _narrow(model: nn.Module, layers: tuple[int, int, int, int], width: int) -> None:
    """Rebuild ``model``'s stem and stages with ``width``-scaled channels, initialised
    as torchvision's ``VideoResNet`` initialises them."""
    from torchvision.models.video.resnet import BasicBlock, Conv2Plus1D

    if width < 4:
        raise ValueError(f"width must be >= 4, got {width}")
    mid = max(1, width * 45 // 64)
    model.stem = nn.Sequential(
        nn.Conv3d(3, mid, (1, 7, 7), stride=(1, 2, 2), padding=(0, 3, 3), bias=False),
        nn.BatchNorm3d(mid), nn.ReLU(inplace=True),
        nn.Conv3d(mid, width, (3, 1, 1), stride=1, padding=(1, 0, 0), bias=False),
        nn.BatchNorm3d(width), nn.ReLU(inplace=True),
    )
    model.inplanes = width
    for i, name in enumerate(R2PLUS1D_STAGES[1:]):
        stage = model._make_layer(BasicBlock, Conv2Plus1D, width * 2**i, layers[i], stride=1 if i == 0 else 2)
        setattr(model, name, stage)
    for m in model.modules():
        if isinstance(m, nn.Conv3d):
            nn.init.kaiming_normal_(m.weight, mode="fan_out", nonlinearity="relu")
        elif isinstance(m, nn.BatchNorm3d):
            nn.init.constant_(m.weight, 1)
            nn.init.constant_(m.bias, 0)


def renormalize(frames: Tensor, src_mean, src_std, dst_mean=None, dst_std=None) -> Tensor:
    """Undo one channel normalisation and apply another (``None`` → plain [0, 1]).
    The batches are Kinetics-normalised; ImageNet encoders expect ImageNet statistics."""
    shape = (1, -1) + (1,) * (frames.dim() - 2)
    mean = torch.tensor(src_mean, dtype=frames.dtype, device=frames.device).view(shape)
    std = torch.tensor(src_std, dtype=frames.dtype, device=frames.device).view(shape)
    x = frames * std + mean
    if dst_mean is None:
        return x
    dmean = torch.tensor(dst_mean, dtype=frames.dtype, device=frames.device).view(shape)
    dstd = torch.tensor(dst_std, dtype=frames.dtype, device=frames.device).view(shape)
    return (x - dmean) / dstd


FrameEncoderName = Literal["efficientnet_b0", "mobilenet_v3_small", "mobilenet_v3_large", "mobilevit"]

# the smallest MobileViT that still has every block type (smoke configs and tests)
MOBILEVIT_TINY = dict(
    hidden_sizes=[16, 24, 32],
    neck_hidden_sizes=[8, 8, 16, 16, 24, 32, 64],
    num_attention_heads=2,
    expand_ratio=2.0,
)


class FrameEncoder(nn.Module):
    """A 2D image network applied to every frame: (B, 3, T, H, W) Kinetics-normalised
    video → (B, T, out_dim). Input statistics are converted to what the network was
    trained on (ImageNet for torchvision; [0, 1] BGR for Apple's MobileViT)."""

    def __init__(self, name: FrameEncoderName = "mobilenet_v3_small", pretrained: bool = True,
                 mobilevit_config: dict | None = None) -> None:
        super().__init__()
        self.name = name
        self.weights_source = "random init"
        if name == "mobilevit":
            self._build_mobilevit(pretrained, mobilevit_config)
            return
        import torchvision.models as tvm

        table = {
            "efficientnet_b0": (tvm.efficientnet_b0, tvm.EfficientNet_B0_Weights.IMAGENET1K_V1, 1280),
            "mobilenet_v3_small": (tvm.mobilenet_v3_small, tvm.MobileNet_V3_Small_Weights.IMAGENET1K_V1, 576),
            "mobilenet_v3_large": (tvm.mobilenet_v3_large, tvm.MobileNet_V3_Large_Weights.IMAGENET1K_V1, 960),
        }
        if name not in table:
            raise ValueError(f"unknown frame encoder {name!r}; choose from {sorted(table) + ['mobilevit']}")
        builder, weights, self.out_dim = table[name]
        net = builder(weights=None)
        if pretrained:
            state = torchvision_state_dict(weights, f"torchvision {name} {weights.name}")
            if state is not None:
                net.load_state_dict(state)
                self.weights_source = f"torchvision {weights.name}"
        self.net = nn.Sequential(net.features, nn.AdaptiveAvgPool2d(1), nn.Flatten(1))

    def _build_mobilevit(self, pretrained: bool, overrides: dict | None) -> None:
        from transformers import MobileViTConfig, MobileViTModel

        net = None
        if pretrained:
            net = hf_from_pretrained(MobileViTModel.from_pretrained, "apple/mobilevit-small")
            if net is not None:
                self.weights_source = "apple/mobilevit-small"
        if net is None:
            net = MobileViTModel(MobileViTConfig(**(overrides or {})))
        self.net = net
        self.out_dim = net.config.neck_hidden_sizes[-1]

    def forward(self, video: Tensor) -> Tensor:
        b, c, t, h, w = video.shape
        frames = video.transpose(1, 2).reshape(b * t, c, h, w)
        if self.name == "mobilevit":
            frames = renormalize(frames, KINETICS_MEAN, KINETICS_STD).flip(1)  # [0,1], RGB→BGR
            feats = self.net(pixel_values=frames).pooler_output
        else:
            feats = self.net(renormalize(frames, KINETICS_MEAN, KINETICS_STD, IMAGENET_MEAN, IMAGENET_STD))
        return feats.reshape(b, t, -1)
