"""Clip-consistent transforms (helpers.datasets.transforms): one crop/flip per clip,
torchvision reference presets, normalization, three crops."""
from __future__ import annotations

import numpy as np
import pytest
import torch

from helpers.datasets.transforms import (
    KINETICS_MEAN,
    KINETICS_STD,
    denormalize,
    eval_preset,
    three_crop,
    train_preset,
)


def same_image_clip(t: int = 5, h: int = 128, w: int = 171, seed: int = 0) -> np.ndarray:
    """``t`` copies of one random image: any per-frame crop/flip would make them differ."""
    img = np.random.default_rng(seed).integers(0, 256, (h, w, 3), dtype=np.uint8)
    return np.repeat(img[None], t, axis=0)


def test_train_preset_applies_one_crop_and_flip_to_every_frame():
    clip = same_image_clip()
    tf = train_preset()
    torch.manual_seed(0)
    outs = [tf(clip) for _ in range(12)]
    for out in outs:
        assert out.shape == (3, 5, 112, 112) and out.dtype == torch.float32
        for t in range(1, 5):
            assert torch.equal(out[:, t], out[:, 0])
    # crops/flips really vary between clips
    assert len({out[:, 0].sum().item() for out in outs}) > 3


def test_train_crop_is_a_window_of_the_input():
    clip = same_image_clip(t=2)
    torch.manual_seed(1)
    out = denormalize(train_preset(hflip_prob=0.0)(clip))[0].astype(int)
    img = clip[0].astype(int)
    errors = [np.abs(img[y:y + 112, x:x + 112] - out).max() for y in range(17) for x in range(60)]
    assert min(errors) <= 1  # found exactly (up to rounding) somewhere in the input


def test_eval_preset_is_resize_center_crop_normalize():
    clip = same_image_clip(t=3)  # already 128×171: resize is a no-op
    out = eval_preset()(clip)
    assert out.shape == (3, 3, 112, 112)
    crop = torch.from_numpy(clip[:, 8:120, 29:141]).permute(3, 0, 1, 2).float() / 255
    mean = torch.tensor(KINETICS_MEAN).view(3, 1, 1, 1)
    std = torch.tensor(KINETICS_STD).view(3, 1, 1, 1)
    torch.testing.assert_close(out, (crop - mean) / std)
    assert torch.equal(eval_preset()(clip), out)  # deterministic


def test_resize_from_another_size():
    clip = same_image_clip(t=2, h=240, w=320)
    out = eval_preset()(clip)
    assert out.shape == (3, 2, 112, 112)
    with pytest.raises(ValueError, match=r"\(T, H, W, 3\)"):
        eval_preset()(clip[..., 0])


def test_three_crop_left_centre_right():
    clip = same_image_clip(t=2)
    views = three_crop(clip)
    assert views.shape == (3, 3, 2, 112, 112)
    full = eval_preset(crop=(128, 171))(clip)  # normalized, uncropped
    torch.testing.assert_close(views[0], full[..., 8:120, 0:112])
    torch.testing.assert_close(views[1], full[..., 8:120, 29:141])
    torch.testing.assert_close(views[2], full[..., 8:120, 59:171])


def test_float_input_in_unit_range_matches_uint8_and_is_not_modified():
    clip = same_image_clip(t=2)
    as_float = torch.from_numpy(clip).float() / 255
    before = as_float.clone()
    torch.testing.assert_close(eval_preset()(as_float), eval_preset()(clip))
    assert torch.equal(as_float, before)
