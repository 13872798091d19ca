"""Where the object is in every frame: the class's motion during the event window,
and only class-independent things outside it.

A track holds per-frame arrays (centre x, centre y, angle, radius) in pixels and
radians for two poses and a ``mix`` weight between them. Screen coordinates have y
pointing down, so a growing angle turns the object clockwise as seen on screen;
``rotate_cw`` therefore adds angle.

Honesty: the pose before the event is drawn from one distribution for every class.
Right after the event the object dissolves (over ~0.3 s) into a fresh pose drawn from
that same distribution, so the end state of the motion (moved left, grown…) does not
linger: outside the event window, a frame tells nothing about the class. The whole
path stays inside the central part of the frame that survives the models' resize to
128×171 and centre crop to 112×112.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np

from helpers.synth.config import SYNTH_CLASSES

DISSOLVE_SECONDS = 0.3


@dataclass(frozen=True)
class Pose:
    """Per-frame object state, each array of shape (T,)."""

    cx: np.ndarray
    cy: np.ndarray
    angle: np.ndarray
    radius: np.ndarray


@dataclass(frozen=True)
class Track:
    """What to draw in each frame: ``first`` where ``mix`` is 0, ``then`` where it is 1,
    a cross-fade of both in between (the dissolve after the event)."""

    first: Pose
    then: Pose
    mix: np.ndarray

    def __len__(self) -> int:
        return len(self.mix)


@dataclass(frozen=True)
class EventWindow:
    """The frames ``[start, end)`` in which the class's motion happens."""

    start: int
    end: int

    @property
    def length(self) -> int:
        return self.end - self.start


def dissolve_frames(fps: float) -> int:
    """Frames of the post-event dissolve (at least 2)."""
    return max(2, int(round(DISSOLVE_SECONDS * fps)))


def sample_event(num_frames: int, fraction: tuple[float, float], rng: np.random.Generator,
                 tail: int = 0) -> EventWindow:
    """A window covering a random share (within ``fraction``) of the clip at a random
    place. It never starts at frame 0 (the first frame always shows the rest pose) and
    leaves ``tail`` frames after it (room for the dissolve). A share that rounds to the
    whole clip is the whole clip, ``[0, num_frames)``: a trimmed clip, the action in
    every frame, no rest pose before it and no dissolve after."""
    lo, hi = fraction
    length = int(round(num_frames * rng.uniform(lo, hi)))
    if length >= num_frames:
        return EventWindow(0, num_frames)
    length = max(2, min(length, num_frames - 1 - tail))
    start = int(rng.integers(1, num_frames - length - tail + 1))
    return EventWindow(start, start + length)


def event_progress(num_frames: int, event: EventWindow) -> np.ndarray:
    """0 before the event, rising linearly (constant speed) to 1 at its last frame,
    1 afterwards. Frame ``start`` is already the first moved frame."""
    t = np.arange(num_frames, dtype=np.float64)
    return np.clip((t - event.start + 1) / event.length, 0.0, 1.0)


def _rest_pose(width: int, height: int, rng: np.random.Generator) -> tuple[float, float, float, float]:
    """Centre, angle and radius of an object at rest: the same for every class."""
    unit = min(width, height)
    return (rng.uniform(0.40, 0.60) * width, rng.uniform(0.38, 0.62) * height,
            rng.uniform(0.0, 2 * math.pi), rng.uniform(0.15, 0.21) * unit)


def sample_track(class_name: str, num_frames: int, event: EventWindow, width: int, height: int,
                 rng: np.random.Generator, dissolve: int = 3,
                 second: str | None = None) -> tuple[Track, dict[str, float]]:
    """The object's track for one clip, and the drawn motion parameters (for captions
    and the manifest). Everything class-independent is drawn first, with the same calls
    for every class, so it has the same distribution whatever the class.

    ``class_name`` is a motion pattern (a :data:`SYNTH_CLASSES` name); ``second``, when
    given, is another pattern moving a different part of the pose over the same window
    (its parameters are drawn after the first's and reported with a ``second_`` prefix).
    """
    for name in (class_name, second):
        if name is not None and name not in SYNTH_CLASSES:
            raise KeyError(f"unknown synthetic class {name!r}; known: {', '.join(SYNTH_CLASSES)}")
    cx0, cy0, angle0, r0 = _rest_pose(width, height, rng)
    after = _rest_pose(width, height, rng)
    # every frame, every class: a slow sub-pixel wobble (and a fraction of a degree)
    jx = _wobble(num_frames, 0.06, rng)
    jy = _wobble(num_frames, 0.06, rng)
    ja = _wobble(num_frames, math.radians(0.1), rng)

    p = event_progress(num_frames, event)
    rest = {"cx": cx0, "cy": cy0, "angle": angle0, "radius": r0}
    pose = {k: np.full(num_frames, v) for k, v in rest.items()}
    changed, params = _pattern(class_name, rest, p, width, height, rng)
    pose.update(changed)
    if second is not None:
        changed2, params2 = _pattern(second, rest, p, width, height, rng)
        if set(changed2) & set(changed):
            raise ValueError(f"{class_name} and {second} move the same part of the pose")
        pose.update(changed2)
        params.update({f"second_{k}": v for k, v in params2.items()})

    t = np.arange(num_frames)
    mix = np.clip((t - event.end + 1) / (dissolve + 1), 0.0, 1.0)
    first = Pose(cx=pose["cx"] + jx, cy=pose["cy"] + jy, angle=pose["angle"] + ja,
                 radius=np.asarray(pose["radius"], dtype=np.float64))
    ones = np.ones(num_frames)
    then = Pose(cx=after[0] + jx, cy=after[1] + jy, angle=after[2] + ja, radius=after[3] * ones)
    return Track(first=first, then=then, mix=mix), params


def _pattern(name: str, rest: dict[str, float], p: np.ndarray, width: int, height: int,
             rng: np.random.Generator) -> tuple[dict[str, np.ndarray], dict[str, float]]:
    """One motion pattern from the rest pose ``rest`` along progress ``p``: the pose
    parts it changes (per-frame arrays) and its drawn parameters."""
    cx0, cy0, angle0, r0 = rest["cx"], rest["cy"], rest["angle"], rest["radius"]
    if name in ("move_left", "move_right"):
        d = rng.uniform(0.16, 0.22) * width
        return {"cx": cx0 + (d if name == "move_right" else -d) * p}, {"distance_px": d}
    if name in ("move_up", "move_down"):
        d = rng.uniform(0.20, 0.26) * height
        return {"cy": cy0 + (d if name == "move_down" else -d) * p}, {"distance_px": d}
    if name in ("rotate_cw", "rotate_ccw"):
        sweep = rng.uniform(0.6, 1.2) * math.pi
        return ({"angle": angle0 + (sweep if name == "rotate_cw" else -sweep) * p},
                {"sweep_deg": math.degrees(sweep)})
    if name in ("grow", "shrink"):
        factor = rng.uniform(1.8, 2.2)
        end = r0 * (factor if name == "grow" else 1.0 / factor)
        # constant radial speed
        return {"radius": r0 + (end - r0) * p}, {"scale_factor": end / r0}
    if name in ("orbit_cw", "orbit_ccw"):
        rho = rng.uniform(0.09, 0.13) * min(width, height)
        phase = rng.uniform(0.0, 2 * math.pi)
        sweep = rng.uniform(1.5, 2.0) * math.pi
        centre_x, centre_y = cx0 - rho * math.cos(phase), cy0 - rho * math.sin(phase)
        theta = phase + (sweep if name == "orbit_cw" else -sweep) * p
        return ({"cx": centre_x + rho * np.cos(theta), "cy": centre_y + rho * np.sin(theta)},
                {"orbit_radius_px": rho, "sweep_deg": math.degrees(sweep)})
    if name in ("shake_horizontal", "shake_vertical"):
        horizontal = name == "shake_horizontal"
        amp = rng.uniform(0.06, 0.09) * (width if horizontal else height)
        cycles = int(rng.integers(2, 4))
        offset = amp * np.sin(2 * math.pi * cycles * p)
        changed = {"cx": cx0 + offset} if horizontal else {"cy": cy0 + offset}
        return changed, {"amplitude_px": amp, "cycles": cycles}
    raise AssertionError(name)  # pragma: no cover - SYNTH_CLASSES and this table are kept in step


def _wobble(num_frames: int, scale: float, rng: np.random.Generator) -> np.ndarray:
    """A smooth random wobble (AR(1), stationary std ``scale``): the object is "still"
    the way a hand-held thing is still, without flickering from frame to frame."""
    keep = 0.85
    steps = rng.normal(0.0, scale * math.sqrt(1 - keep**2), num_frames)
    out = np.empty(num_frames)
    level = rng.normal(0.0, scale)
    for t in range(num_frames):
        level = keep * level + steps[t]
        out[t] = level
    return out


@dataclass(frozen=True)
class DistractorTrack:
    """A small disc drifting across the whole clip, bouncing off the borders: motion
    that has nothing to do with the class, so "anything moved" is not the answer."""

    x: np.ndarray
    y: np.ndarray
    radius: float


def sample_distractor(num_frames: int, fps: float, width: int, height: int,
                      rng: np.random.Generator) -> DistractorTrack:
    unit = min(width, height)
    radius = rng.uniform(0.025, 0.035) * unit
    x0, y0 = rng.uniform(radius, width - radius), rng.uniform(radius, height - radius)
    speed = rng.uniform(0.04, 0.08) * unit / fps          # pixels per frame, slower than events
    heading = rng.uniform(0.0, 2 * math.pi)
    t = np.arange(num_frames)
    x = _bounce(x0 + speed * math.cos(heading) * t, radius, width - radius)
    y = _bounce(y0 + speed * math.sin(heading) * t, radius, height - radius)
    return DistractorTrack(x=x, y=y, radius=radius)


def _bounce(pos: np.ndarray, lo: float, hi: float) -> np.ndarray:
    """Reflect an unbounded 1-D path into [lo, hi] (a ball bouncing off two walls)."""
    span = hi - lo
    folded = np.mod(pos - lo, 2 * span)
    return lo + np.where(folded > span, 2 * span - folded, folded)
