"""Clip-consistent transforms: one crop and one flip decision per clip, applied to
every frame, so motion is not broken by per-frame jitter.

Modelled on torchvision's ``references/video_classification/presets.py``:
train = resize 128×171, random crop 112, horizontal flip, normalize;
eval  = resize 128×171, center crop 112, normalize. Input is what the reader gives,
uint8 ``(T, H, W, 3)`` RGB (numpy or torch); output is float32 ``(C, T, H, W)``
normalized with the Kinetics statistics that torchvision's video models expect.

Randomness comes from torch's global generator, which the DataLoader seeds per worker
and per epoch, so runs are reproducible under ``torch.manual_seed``.
"""
from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn import functional as F

KINETICS_MEAN: tuple[float, float, float] = (0.43216, 0.394666, 0.37645)
KINETICS_STD: tuple[float, float, float] = (0.22803, 0.22145, 0.216989)
RESIZE: tuple[int, int] = (128, 171)
CROP: tuple[int, int] = (112, 112)


def _pair(size: int | Sequence[int]) -> tuple[int, int]:
    if isinstance(size, int):
        return (size, size)
    h, w = size
    return (int(h), int(w))


def to_float_tchw(frames: np.ndarray | torch.Tensor) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` → float32 ``(T, 3, H, W)`` in [0, 1]."""
    t = torch.as_tensor(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
    if t.ndim != 4 or t.shape[-1] != 3:
        raise ValueError(f"expected frames of shape (T, H, W, 3), got {tuple(t.shape)}")
    t = t.permute(0, 3, 1, 2)
    if t.dtype == torch.uint8:
        return t.float().div_(255.0)
    return t.float()


def resize_clip(clip: torch.Tensor, size: tuple[int, int]) -> torch.Tensor:
    """Resize float ``(T, C, H, W)`` to ``size`` (H, W), bilinear with antialias (as
    torchvision's ``Resize``); a no-op when already that size (the reader can resize
    on the way out, which is cheaper)."""
    if tuple(clip.shape[-2:]) == tuple(size):
        return clip
    return F.interpolate(clip, size=size, mode="bilinear", align_corners=False, antialias=True)


def crop_clip(clip: torch.Tensor, top: int, left: int, size: tuple[int, int]) -> torch.Tensor:
    """The same window of every frame of ``(…, H, W)``."""
    h, w = size
    if top < 0 or left < 0 or top + h > clip.shape[-2] or left + w > clip.shape[-1]:
        raise ValueError(f"crop {size} at ({top}, {left}) does not fit a {tuple(clip.shape[-2:])} clip")
    return clip[..., top : top + h, left : left + w]


def center_crop_offsets(height: int, width: int, size: tuple[int, int]) -> tuple[int, int]:
    return (height - size[0]) // 2, (width - size[1]) // 2


def normalize_clip(
    clip: torch.Tensor,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
) -> torch.Tensor:
    """Normalize float ``(T, C, H, W)`` per channel."""
    m = torch.tensor(mean, dtype=clip.dtype).view(1, -1, 1, 1)
    s = torch.tensor(std, dtype=clip.dtype).view(1, -1, 1, 1)
    return (clip - m) / s


def denormalize(
    video: torch.Tensor,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
) -> np.ndarray:
    """Back from a normalized ``(C, T, H, W)`` item to uint8 ``(T, H, W, 3)`` for display."""
    m = torch.tensor(mean, dtype=video.dtype).view(-1, 1, 1, 1)
    s = torch.tensor(std, dtype=video.dtype).view(-1, 1, 1, 1)
    x = (video.detach().cpu() * s + m).clamp(0, 1).mul(255).round().to(torch.uint8)
    return x.permute(1, 2, 3, 0).numpy()


@dataclass(frozen=True)
class ClipTransform:
    """Resize → crop (random or center) → optional flip → normalize → ``(C, T, H, W)``.

    ``resize`` is also the size the dataset asks the reader to decode to (see
    ``decode_size``), so full-size frames are never kept in memory.
    """

    resize: tuple[int, int] = RESIZE
    crop: tuple[int, int] = CROP
    random_crop: bool = False
    hflip_prob: float = 0.0
    mean: tuple[float, float, float] = KINETICS_MEAN
    std: tuple[float, float, float] = KINETICS_STD

    @property
    def decode_size(self) -> tuple[int, int]:
        return self.resize

    def crop_params(self, height: int, width: int) -> tuple[int, int, bool]:
        """``(top, left, flip)`` for one clip: drawn once, used for every frame."""
        ch, cw = self.crop
        if self.random_crop:
            top = int(torch.randint(0, height - ch + 1, ()).item())
            left = int(torch.randint(0, width - cw + 1, ()).item())
        else:
            top, left = center_crop_offsets(height, width, self.crop)
        flip = self.hflip_prob > 0 and float(torch.rand(())) < self.hflip_prob
        return top, left, flip

    def __call__(self, frames: np.ndarray | torch.Tensor) -> torch.Tensor:
        # Crop first, then convert and normalize only the crop, channels last, in one
        # fused multiply-subtract: a third of the work of normalizing the full frame.
        x = torch.as_tensor(np.ascontiguousarray(frames)) if isinstance(frames, np.ndarray) else frames
        if x.ndim != 4 or x.shape[-1] != 3:
            raise ValueError(f"expected frames of shape (T, H, W, 3), got {tuple(x.shape)}")
        unit = 1.0 / 255.0 if x.dtype == torch.uint8 else 1.0
        if tuple(x.shape[1:3]) != tuple(self.resize):
            x = resize_clip(x.permute(0, 3, 1, 2).float() * unit, self.resize).permute(0, 2, 3, 1)
            unit = 1.0
        top, left, flip = self.crop_params(x.shape[1], x.shape[2])
        ch, cw = self.crop
        if top < 0 or left < 0 or top + ch > x.shape[1] or left + cw > x.shape[2]:
            raise ValueError(f"crop {self.crop} does not fit a {tuple(x.shape[1:3])} clip")
        x = x[:, top : top + ch, left : left + cw]
        if flip:
            x = x.flip(2)
        std = torch.tensor(self.std, dtype=torch.float32)
        scale = unit / std
        shift = torch.tensor(self.mean, dtype=torch.float32) / std
        x = torch.addcmul(-shift, x.to(torch.float32), scale)  # (x * unit - mean) / std
        return x.permute(3, 0, 1, 2).contiguous()  # (T, H, W, C) -> (C, T, H, W)


def train_preset(
    resize: tuple[int, int] = RESIZE, crop: int | tuple[int, int] = 112, hflip_prob: float = 0.5
) -> ClipTransform:
    """torchvision reference train preset: resize 128×171, random crop 112, flip 0.5."""
    return ClipTransform(resize=_pair(resize), crop=_pair(crop), random_crop=True, hflip_prob=hflip_prob)


def eval_preset(resize: tuple[int, int] = RESIZE, crop: int | tuple[int, int] = 112) -> ClipTransform:
    """torchvision reference eval preset: resize 128×171, center crop 112."""
    return ClipTransform(resize=_pair(resize), crop=_pair(crop))


def three_crop_offsets(height: int, width: int, size: tuple[int, int]) -> list[tuple[int, int]]:
    """Three windows along the longer side (left/centre/right, or top/centre/bottom),
    centred on the shorter one: the usual multi-view test crops (SlowFast, X3D)."""
    ch, cw = size
    if width >= height:
        top = (height - ch) // 2
        return [(top, 0), (top, (width - cw) // 2), (top, width - cw)]
    left = (width - cw) // 2
    return [(0, left), ((height - ch) // 2, left), (height - ch, left)]


def three_crop(
    frames: np.ndarray | torch.Tensor,
    resize: tuple[int, int] = RESIZE,
    crop: int | tuple[int, int] = 112,
    mean: Sequence[float] = KINETICS_MEAN,
    std: Sequence[float] = KINETICS_STD,
) -> torch.Tensor:
    """uint8 ``(T, H, W, 3)`` → float32 ``(3, C, T, h, w)``: three normalized crops of
    the same clip for multi-view testing (average the model's scores over views)."""
    size = _pair(crop)
    clip = normalize_clip(resize_clip(to_float_tchw(frames), _pair(resize)), mean, std)
    views = [crop_clip(clip, t, l, size) for t, l in three_crop_offsets(clip.shape[-2], clip.shape[-1], size)]
    return torch.stack([v.permute(1, 0, 2, 3) for v in views]).contiguous()
