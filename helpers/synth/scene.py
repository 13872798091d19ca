"""What the clip looks like: an asymmetric textured shape over a static background,
plus a faint drifting distractor. Drawn with OpenCV (anti-aliased, sub-pixel).

Every appearance attribute (shape, colour, texture, background) is drawn from the same
distribution for every class: appearance never tells the class. All shapes lack
rotational symmetry, so the sense of a rotation is visible, and textures are painted
in the object's own frame so they turn with it.
"""
from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from helpers.synth.motion import DistractorTrack, Track


def _unit(points: list[tuple[float, float]]) -> np.ndarray:
    """Centre a polygon on its vertex mean and scale it so its farthest vertex is at 1."""
    p = np.asarray(points, dtype=np.float64)
    p -= p.mean(axis=0)
    return p / np.linalg.norm(p, axis=1).max()


# Unit polygons (x right, y down). None has rotational symmetry.
SHAPES: dict[str, np.ndarray] = {
    "arrow": _unit([(-1, -0.3), (0.2, -0.3), (0.2, -0.75), (1, 0), (0.2, 0.75), (0.2, 0.3), (-1, 0.3)]),
    "L-shape": _unit([(-0.7, -1), (-0.15, -1), (-0.15, 0.45), (0.8, 0.45), (0.8, 1), (-0.7, 1)]),
    "triangle": _unit([(-0.9, -1.0), (0.9, 0.7), (-0.9, 0.7)]),
    "flag": _unit([(-0.8, -1), (-0.55, -1), (-0.55, -0.9), (0.9, -0.45), (-0.55, 0.0), (-0.55, 1), (-0.8, 1)]),
    "T-shape": _unit([(-1, -1), (1, -1), (1, -0.45), (0.28, -0.45), (0.28, 1), (-0.28, 1), (-0.28, -0.45), (-1, -0.45)]),
}

# Bright, saturated object colours (all stand out from the darker backgrounds).
OBJECT_COLOURS: dict[str, tuple[int, int, int]] = {
    "red": (225, 45, 45),
    "green": (50, 200, 70),
    "blue": (70, 120, 255),
    "yellow": (235, 215, 40),
    "magenta": (215, 60, 215),
    "cyan": (50, 215, 225),
    "orange": (245, 145, 35),
    "white": (240, 240, 240),
}

TEXTURES = ("plain", "striped", "two-tone")

# Muted background base colours.
BACKGROUND_COLOURS: dict[str, tuple[int, int, int]] = {
    "grey": (90, 90, 90),
    "dark grey": (45, 45, 48),
    "navy": (30, 40, 85),
    "dark green": (30, 70, 40),
    "brown": (85, 60, 40),
    "purple": (65, 40, 80),
}

BACKGROUND_PATTERNS = ("plain", "striped", "checkered", "gradient", "speckled")


@dataclass(frozen=True)
class Appearance:
    """The class-independent look of one clip (all of it goes into the caption)."""

    shape: str
    colour: str
    texture: str
    background_colour: str
    background_pattern: str


def sample_appearance(rng: np.random.Generator) -> Appearance:
    return Appearance(
        shape=str(rng.choice(list(SHAPES))),
        colour=str(rng.choice(list(OBJECT_COLOURS))),
        texture=str(rng.choice(TEXTURES)),
        background_colour=str(rng.choice(list(BACKGROUND_COLOURS))),
        background_pattern=str(rng.choice(BACKGROUND_PATTERNS)),
    )


def render_background(appearance: Appearance, width: int, height: int, rng: np.random.Generator) -> np.ndarray:
    """A static RGB uint8 (H, W, 3) background: the camera does not move."""
    base = np.asarray(BACKGROUND_COLOURS[appearance.background_colour], dtype=np.float32)
    light = np.clip(base * 1.45 + 18, 0, 255)
    yy, xx = np.mgrid[0:height, 0:width].astype(np.float32)
    pattern = appearance.background_pattern
    unit = min(width, height)
    if pattern == "plain":
        mix = np.zeros((height, width), np.float32)
    elif pattern == "striped":
        period = rng.uniform(0.08, 0.16) * unit
        theta = rng.uniform(0, np.pi)
        coord = xx * np.cos(theta) + yy * np.sin(theta)
        mix = (np.floor(coord / (period / 2)) % 2).astype(np.float32)
    elif pattern == "checkered":
        cell = rng.uniform(0.08, 0.16) * unit
        mix = ((np.floor(xx / cell) + np.floor(yy / cell)) % 2).astype(np.float32)
    elif pattern == "gradient":
        theta = rng.uniform(0, 2 * np.pi)
        coord = xx * np.cos(theta) + yy * np.sin(theta)
        mix = (coord - coord.min()) / max(float(np.ptp(coord)), 1.0)
    elif pattern == "speckled":
        mix = (rng.random((height, width)) < 0.18).astype(np.float32) * rng.uniform(0.5, 1.0)
    else:  # pragma: no cover
        raise AssertionError(pattern)
    image = base[None, None, :] * (1 - mix[..., None]) + light[None, None, :] * mix[..., None]
    return np.clip(np.rint(image), 0, 255).astype(np.uint8)


_SHIFT = 4                      # cv2 fixed-point bits: 1/16-pixel vertex positions
_SCALE = 1 << _SHIFT


def draw_object(canvas: np.ndarray, appearance: Appearance, cx: float, cy: float,
                angle: float, radius: float) -> None:
    """Alpha-blend the textured shape onto ``canvas`` (uint8 RGB, modified in place)."""
    import cv2

    height, width = canvas.shape[:2]
    c, s = np.cos(angle), np.sin(angle)
    rot = np.array([[c, -s], [s, c]])
    pts = SHAPES[appearance.shape] @ rot.T * radius + (cx, cy)
    x0 = max(int(np.floor(pts[:, 0].min())) - 1, 0)
    y0 = max(int(np.floor(pts[:, 1].min())) - 1, 0)
    x1 = min(int(np.ceil(pts[:, 0].max())) + 2, width)
    y1 = min(int(np.ceil(pts[:, 1].max())) + 2, height)
    if x1 <= x0 or y1 <= y0:
        return  # entirely outside the frame
    mask = np.zeros((y1 - y0, x1 - x0), np.uint8)
    local = np.rint((pts - (x0, y0)) * _SCALE).astype(np.int32)
    cv2.fillPoly(mask, [local], 255, lineType=cv2.LINE_AA, shift=_SHIFT)
    alpha = mask.astype(np.float32)[..., None] / 255.0

    colour = np.asarray(OBJECT_COLOURS[appearance.colour], dtype=np.float32)
    if appearance.texture == "plain":
        paint = colour[None, None, :]
    else:
        # object-frame coordinate in units of the radius: the texture turns with the shape
        u = (((np.arange(x0, x1) - cx) * c)[None, :] + ((np.arange(y0, y1) - cy) * s)[:, None]) / radius
        if appearance.texture == "striped":
            dark = (np.floor((u + 2.0) * 2.5) % 2).astype(np.float32)
        else:  # two-tone: the object's back half is darker
            dark = (u < 0).astype(np.float32)
        shade = 1.0 - 0.45 * dark
        paint = colour[None, None, :] * shade[..., None]
    region = canvas[y0:y1, x0:x1].astype(np.float32)
    canvas[y0:y1, x0:x1] = np.rint(region * (1 - alpha) + paint * alpha).astype(np.uint8)


def draw_distractor(canvas: np.ndarray, x: float, y: float, radius: float) -> None:
    """A faint grey disc (low contrast: it should not look like the main object)."""
    import cv2

    centre = (int(round(x * _SCALE)), int(round(y * _SCALE)))
    cv2.circle(canvas, centre, int(round(radius * _SCALE)), (120, 120, 120), -1,
               lineType=cv2.LINE_AA, shift=_SHIFT)


def render_frames(track: Track, appearance: Appearance, background: np.ndarray,
                  distractor: DistractorTrack | None) -> np.ndarray:
    """All frames of a clip: uint8 (T, H, W, 3) RGB."""
    frames = np.empty((len(track), *background.shape), np.uint8)
    for t in range(len(track)):
        frame = frames[t]
        frame[:] = background
        if distractor is not None:
            draw_distractor(frame, distractor.x[t], distractor.y[t], distractor.radius)
        mix = float(track.mix[t])
        if mix < 1.0:
            pose = track.first
            draw_object(frame, appearance, pose.cx[t], pose.cy[t], pose.angle[t], pose.radius[t])
        if mix > 0.0:
            other = background.copy()
            if distractor is not None:
                draw_distractor(other, distractor.x[t], distractor.y[t], distractor.radius)
            pose = track.then
            draw_object(other, appearance, pose.cx[t], pose.cy[t], pose.angle[t], pose.radius[t])
            if mix >= 1.0:
                frame[:] = other
            else:  # the dissolve: a cross-fade between the two poses
                frame[:] = np.rint(frame * (1.0 - mix) + other * mix).astype(np.uint8)
    return frames
