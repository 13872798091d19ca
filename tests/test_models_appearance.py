"""The colour histogram token: counts of the right RGB cells, masked frames left out."""
import pytest
import torch

from helpers.models.appearance import ColourHistogram
from helpers.models.backbones import KINETICS_MEAN, KINETICS_STD


def normalised(rgb01: torch.Tensor) -> torch.Tensor:
    """(B, 3, T, H, W) in [0, 1] → Kinetics-normalised, as the loaders give it."""
    return (rgb01 - torch.tensor(KINETICS_MEAN).view(1, 3, 1, 1, 1)) / torch.tensor(KINETICS_STD).view(1, 3, 1, 1, 1)


def test_histogram_puts_each_pixel_in_its_rgb_cell_and_skips_masked_frames():
    video = torch.zeros(1, 3, 2, 4, 4)
    video[0, 0, :, :, :2] = 0.9  # left half red: cell (3, 0, 0) with 4 levels
    video[0, 2, :, :, 2:] = 0.6  # right half blue: cell (0, 0, 2)
    video[0, :, 1] = 1.0  # the second frame white: cell (3, 3, 3)
    hist = ColourHistogram(dim=8, bins=4).histogram(normalised(video), frame_mask=torch.tensor([[True, False]]))
    assert hist.shape == (1, 64)
    cells = {i: round(float(v), 4) for i, v in enumerate(hist[0]) if v > 0}
    assert cells == {(3 * 4 + 0) * 4 + 0: 0.5, (0 * 4 + 0) * 4 + 2: 0.5}
    both = ColourHistogram(dim=8, bins=4).histogram(normalised(video))
    assert float(both[0, 63]) == pytest.approx(0.5) and float(both.sum()) == pytest.approx(1.0)


def test_the_token_changes_with_the_colour_and_not_with_where_it_is():
    torch.manual_seed(0)
    module = ColourHistogram(dim=16, bins=4).eval()
    red_left, red_right, green_left = (torch.zeros(1, 3, 2, 8, 8) for _ in range(3))
    red_left[0, 0, :, 2:4, 0:2] = 0.9
    red_right[0, 0, :, 5:7, 6:8] = 0.9
    green_left[0, 1, :, 2:4, 0:2] = 0.9
    tokens = [module(normalised(v)) for v in (red_left, red_right, green_left)]
    assert tokens[0].shape == (1, 2, 16)
    torch.testing.assert_close(tokens[0], tokens[1])  # same colours, other place
    assert (tokens[0] - tokens[2]).abs().max() > 1e-3
    with pytest.raises(ValueError, match="bins"):
        ColourHistogram(dim=4, bins=1)


def test_the_moving_histogram_holds_the_moving_objects_colour_not_the_background():
    video = torch.full((1, 3, 5, 8, 8), 0.3)  # a grey background
    for t in range(5):  # a small red square crossing it
        video[0, :, t, 3:5, t:t + 2] = torch.tensor([0.9, 0.1, 0.1]).view(3, 1, 1)
    module = ColourHistogram(dim=8, bins=4)
    scene = module.histogram(normalised(video))
    moving = module.histogram(normalised(video), moving=True)
    grey, red = (1 * 4 + 1) * 4 + 1, (3 * 4 + 0) * 4 + 0
    assert float(scene[0, grey]) == pytest.approx(60 / 64) and float(scene[0, red]) == pytest.approx(4 / 64)
    assert float(moving[0, red]) == pytest.approx(1.0)  # only the square differs from the median
    still = module.histogram(normalised(torch.full((1, 3, 3, 4, 4), 0.3)), moving=True)
    assert float(still.sum()) == 0.0


def test_padded_frames_do_not_move_the_median_of_the_real_ones():
    video = torch.full((1, 3, 3, 8, 8), 0.3)  # a grey background, a red square crossing it
    for t in range(3):
        video[0, :, t, 3:5, 2 * t:2 * t + 2] = torch.tensor([0.9, 0.1, 0.1]).view(3, 1, 1)
    padded = torch.cat([video, torch.zeros(1, 3, 3, 8, 8)], dim=2)  # three black padding frames
    mask = torch.tensor([[True] * 3 + [False] * 3])
    module = ColourHistogram(dim=8, bins=4)
    alone = module.histogram(normalised(video), moving=True)
    torch.testing.assert_close(module.histogram(normalised(padded), frame_mask=mask, moving=True), alone)
    red = (3 * 4 + 0) * 4 + 0
    assert float(alone[0, red]) == pytest.approx(1.0)
    # with the padding in the median, the black padding would make the grey background "move"
    both = torch.cat([normalised(padded), normalised(torch.cat([video, video], dim=2))])
    batch = module.histogram(both, frame_mask=torch.cat([mask, torch.ones(1, 6, dtype=torch.bool)]), moving=True)
    torch.testing.assert_close(batch[:1], alone)


def test_a_size_counts_a_subsample_of_pixels_with_their_own_colours():
    # 4×4-pixel blocks of random colours: a stride of 4 sees each block once
    blocks = torch.rand(1, 3, 4, 28, 28).repeat_interleave(4, -1).repeat_interleave(4, -2)  # (1,3,4,112,112)
    full, sub = ColourHistogram(dim=8, bins=4), ColourHistogram(dim=8, bins=4, size=28)
    for moving in (False, True):
        torch.testing.assert_close(sub.histogram(normalised(blocks), moving=moving),
                                   full.histogram(normalised(blocks[..., ::4, ::4]), moving=moving))
        torch.testing.assert_close(sub.histogram(normalised(blocks), moving=moving),
                                   full.histogram(normalised(blocks), moving=moving), atol=1e-6, rtol=0)
    # an edge blurred by averaging would make colours that no pixel has; a subsample does not
    split = torch.zeros(1, 3, 2, 112, 112)
    split[:, 0, :, :, (torch.arange(112) % 8 >= 2) & (torch.arange(112) % 8 < 6)] = 1.0  # red stripes, 4 wide
    hist = ColourHistogram(dim=8, bins=4, size=28).histogram(normalised(split))
    black, red = 0, (3 * 4 + 0) * 4 + 0
    assert float(hist[0, black]) == pytest.approx(0.5) and float(hist[0, red]) == pytest.approx(0.5)
