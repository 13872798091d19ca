"""Motion Dynamics Module: features of what changes between adjacent time steps of a
backbone feature map, fused with the clip's appearance features.

Why differences: classes such as "move left" vs "move right" share every frame's
appearance; only ``f[t+1] - f[t]`` tells them apart. Differences are taken on
(channel-reduced) backbone feature maps rather than pixels, so they measure change of
learned content, not of lighting noise.

Why differences times spatial gradients: a difference alone does not say which way a
thing moved — a bright object moving right and a dark one moving left give the same
``f[t+1] - f[t]`` (leading edge +, trailing edge −). Brightness constancy
(``∂f/∂t = −v · ∇f``, the optical-flow constraint behind Lucas–Kanade) gives the
direction: ``(f[t+1] - f[t]) · ∂f/∂x ≈ −v_x (∂f/∂x)²``, negative for motion to the
right whatever the contrast. The module encodes ``[d, d·∂x f, d·∂y f]`` per channel
with convolutions (local motion patterns) and also sums them over the clip into global
cues per channel: coherent translation (x, y), rotation and dilation about the centre
of what changed (the moments ``r × v`` and ``r · v`` of that flow, the 4-parameter
similarity motion model), each normalised to [-1, 1]. Why the global cues: the sense of
a rotation is a property of the whole moving thing (opposite flow on opposite sides);
a conv + ReLU + average pool did not learn it from a few dozen clips.

Why the turning cue (optional, ``turning=True``): a thing that circles (an orbit) shows
no net translation or rotation over the clip; what tells clockwise from counterclockwise
is how its path turns from step to step. :func:`path_turning` follows the centre of what
changed from step to step and sums the cross products of successive moves. It reads where
change happened, not brightness constancy, whose first-order approximation fades once a
thing moves more than its own edge width between the frames read (a few pixels at the
sizes models read motion at): a fast orbit is exactly that.

What each part adds on the generated motion classes (differences alone, with the
products, with the global cues): ``benchmarks/RESULTS.md``, "Motion Dynamics Module".

Why the LayerNorm at the end: the difference path starts far weaker than the
appearance features at init and is added to them, so without it the classifier learns
appearance first and memorises. It has no bias, so zero stays zero.

Zero in, zero out: the difference encoder has no biases and no normalisation with an
offset, so a static clip (identical feature maps over time) yields motion features that
are exactly zero, and the fusion then returns the appearance features unchanged.
The signed differences go through a temporal convolution, so reversing or shuffling
the frames changes the output (reversal flips the sign and the order of differences).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
import torch.nn.functional as F
from torch import Tensor, nn


@dataclass
class MotionOutput:
    """features: (B, out_dim) motion features; energy: (B,) mean |difference|,
    a cheap per-clip "how much moved" number for plots and tests."""

    features: Tensor
    energy: Tensor


def temporal_differences(x: Tensor) -> Tensor:
    """``x[:, :, t+1] - x[:, :, t]`` for a (B, C, T, H, W) map: (B, C, T-1, H, W).
    A single time step has no neighbour: the result is one all-zero step (no motion)."""
    if x.shape[2] < 2:
        return torch.zeros_like(x[:, :, :1])
    return x[:, :, 1:] - x[:, :, :-1]


def temporal_midpoints(x: Tensor) -> Tensor:
    """``(x[:, :, t+1] + x[:, :, t]) / 2``, aligned with :func:`temporal_differences`
    (a single time step is its own midpoint)."""
    if x.shape[2] < 2:
        return x[:, :, :1]
    return 0.5 * (x[:, :, 1:] + x[:, :, :-1])


def spatial_gradients(x: Tensor) -> tuple[Tensor, Tensor]:
    """Central differences along W and H of a (B, C, T, H, W) map, edges replicated
    (so a flat map has gradient exactly zero): ``(∂x, ∂y)``, each the shape of ``x``."""
    gx = F.pad(x, (1, 1, 0, 0, 0, 0), mode="replicate")
    gy = F.pad(x, (0, 0, 1, 1, 0, 0), mode="replicate")
    return 0.5 * (gx[..., 2:] - gx[..., :-2]), 0.5 * (gy[..., 2:, :] - gy[..., :-2, :])


_EPS = 1e-6  # keeps the normalisations finite where nothing changed (all sums then exactly zero)


def _grid(x: Tensor) -> tuple[Tensor, Tensor]:
    """``(ys, xs)``: the pixel coordinates of ``x``'s last two dimensions in [-1, 1],
    shaped (H, 1) and (1, W) to broadcast."""
    h, w = x.shape[-2:]
    ys = torch.linspace(-1.0, 1.0, h, dtype=x.dtype, device=x.device).view(h, 1)
    xs = torch.linspace(-1.0, 1.0, w, dtype=x.dtype, device=x.device).view(1, w)
    return ys, xs


def _centre_of_change(mag: Tensor, xs: Tensor, ys: Tensor) -> tuple[Tensor, Tensor, Tensor]:
    """``(area, cx, cy)`` of ``mag`` = |differences| (…, H, W) per channel and step: its sum
    and its centre, each shaped (…, 1, 1); the centre is 0 where nothing changed."""
    area = mag.sum(dim=(-2, -1), keepdim=True)
    cx = (mag * xs).sum(dim=(-2, -1), keepdim=True) / (area + _EPS)
    cy = (mag * ys).sum(dim=(-2, -1), keepdim=True) / (area + _EPS)
    return area, cx, cy


def motion_cues(reduced: Tensor) -> tuple[Tensor, Tensor]:
    """Local and global motion cues of a reduced map (B, C, T, H, W), see the module docstring.

    Returns ``(local, global_)``: ``local`` (B, 3C, T-1, H, W) is ``[d, d·∂x m, d·∂y m]``
    with ``d`` the temporal differences and ``m`` the temporal midpoints; ``global_``
    (B, 4C) holds per channel the clip's coherent translation x, translation y, rotation
    and dilation, each in [-1, 1] (positive: right, down, clockwise on screen, growing;
    independent of contrast), all exactly zero for a static clip."""
    d = temporal_differences(reduced)
    gx, gy = spatial_gradients(temporal_midpoints(reduced))
    u, w = d * gx, d * gy  # −v_x |∂x m|², −v_y |∂y m|² (brightness constancy)
    ys, xs = _grid(d)
    mag = d.abs()
    _, cx, cy = _centre_of_change(mag, xs, ys)
    rx, ry = xs - cx, ys - cy
    grad = mag * torch.sqrt(gx * gx + gy * gy + _EPS**2)  # |d|·|∇m| bounds |u|, |w|
    radius = torch.sqrt(rx * rx + ry * ry)
    every = (2, 3, 4)
    norm_t = grad.sum(every) + _EPS
    norm_r = (grad * radius).sum(every) + _EPS
    # u, w point against the motion (−v): negated, + is right, down, clockwise (y points down), growing
    global_ = -torch.cat([
        u.sum(every) / norm_t,  # translation x
        w.sum(every) / norm_t,  # translation y
        (rx * w - ry * u).sum(every) / norm_r,  # rotation about the centre of what changed
        (rx * u + ry * w).sum(every) / norm_r,  # dilation
    ], dim=1)
    return torch.cat([d, u, w], dim=1), global_


def path_turning(d: Tensor) -> Tensor:
    """(B, C) which way the path of what changed turns, from the temporal differences ``d``
    (B, C, S, H, W): the centre of ``|d|`` per step, its successive moves ``v``, and
    ``Σ k·(v_s × v_s+1) / (Σ k·|v_s||v_s+1| + one pixel²)`` per channel, in [-1, 1], positive
    clockwise on screen (y points down). ``k`` weighs each pair of moves by how much changed
    in its three steps (relative to the clip's largest step), so steps where only noise
    changed count little. Zero for a static clip and with fewer than three steps."""
    b, c, s = d.shape[:3]
    if s < 3:
        return torch.zeros(b, c, dtype=d.dtype, device=d.device)
    h, w = d.shape[-2:]
    ys, xs = _grid(d)
    area, cx, cy = (t[..., 0, 0] for t in _centre_of_change(d.abs(), xs, ys))  # (B, C, S) each
    vx, vy = cx[..., 1:] - cx[..., :-1], cy[..., 1:] - cy[..., :-1]
    speed = torch.sqrt(vx * vx + vy * vy)
    share = area / (area.amax(dim=-1, keepdim=True) + _EPS)
    k = share[..., :-2] * share[..., 1:-1] * share[..., 2:]
    cross = vx[..., :-1] * vy[..., 1:] - vy[..., :-1] * vx[..., 1:]
    pixel2 = (2.0 / max(w - 1, 1)) * (2.0 / max(h - 1, 1))
    return (k * cross).sum(-1) / ((k * speed[..., :-1] * speed[..., 1:]).sum(-1) + pixel2)


class MotionDynamicsModule(nn.Module):
    """reduce (1x1x1 conv) → :func:`motion_cues`; the local cues go through a spatial
    3x3 conv → ReLU → temporal 3 conv → ReLU → global average pool, are joined by the
    global cues (translation, rotation, dilation per channel; with ``turning`` also
    :func:`path_turning`) → linear to ``out_dim`` → LayerNorm without bias. All bias-free
    (see the module docstring for why).

    :meth:`features` is the same computation returning a plain tensor (for tracing and
    export: ``helpers.compression.deploy``)."""

    def __init__(self, in_channels: int, hidden: int = 64, out_dim: int = 512, turning: bool = False) -> None:
        super().__init__()
        self.turning = turning
        self.reduce = nn.Conv3d(in_channels, hidden, kernel_size=1, bias=False)
        self.encode = nn.Sequential(
            nn.Conv3d(3 * hidden, hidden, kernel_size=(1, 3, 3), padding=(0, 1, 1), bias=False),
            nn.ReLU(inplace=True),
            nn.Conv3d(hidden, hidden, kernel_size=(3, 1, 1), padding=(1, 0, 0), bias=False),
            nn.ReLU(inplace=True),
        )
        self.project = nn.Linear((6 if turning else 5) * hidden, out_dim, bias=False)
        self.norm = nn.LayerNorm(out_dim, bias=False)

    def features(self, feature_map: Tensor) -> Tensor:
        """(B, C, T, H, W) backbone map → (B, out_dim) motion features."""
        return self._encode(*motion_cues(self.reduce(feature_map)))

    def _encode(self, local: Tensor, global_: Tensor) -> Tensor:
        pooled = self.encode(local).mean(dim=(2, 3, 4))
        parts = [pooled, global_]
        if self.turning:
            parts.append(path_turning(local[:, : self.reduce.out_channels]))
        return self.norm(self.project(torch.cat(parts, dim=1)))

    def forward(self, feature_map: Tensor) -> MotionOutput:
        local, global_ = motion_cues(self.reduce(feature_map))
        differences = local[:, : self.reduce.out_channels]  # the first third of the local cues
        energy = differences.abs().mean(dim=(1, 2, 3, 4))
        return MotionOutput(features=self._encode(local, global_), energy=energy)


class GatedResidualFusion(nn.Module):
    """``fused = appearance + sigmoid(W [appearance; motion]) * motion``.

    A gated residual: the gate decides per channel how much motion to add, and with
    zero motion the appearance features pass through unchanged (so a pretrained
    backbone's features are not disturbed at the start of fine-tuning)."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.gate = nn.Linear(2 * dim, dim)

    def forward(self, appearance: Tensor, motion: Tensor) -> Tensor:
        g = torch.sigmoid(self.gate(torch.cat([appearance, motion], dim=-1)))
        return appearance + g * motion
