"""What the generated dataset looks like: its classes and the knobs of one run.

The class list has a fixed order so that ``classes=K`` always means the first K
names, and a class keeps its label (and its clips keep their bytes) whatever K is.
The order is chosen so that small K is already a fair benchmark: the first 4 are two
direction pairs (translation, rotation), the first 6 add a scale pair.

Two name sets: ``names="motion"`` (default) names the 12 classes after their motion;
``names="hmdb51"`` uses HMDB51's 51 real class names, so every 51-class shape (heads,
confusion matrix, top-5) can be rehearsed. What an HMDB51-named class shows is set in
:mod:`helpers.synth.recipes`; its name says nothing about it.
"""
from __future__ import annotations

from dataclasses import dataclass, fields
from typing import Literal

from helpers.hmdb51_official import HMDB51_CLASSES

# Fixed order: label = position in this tuple.
SYNTH_CLASSES: tuple[str, ...] = (
    "move_left",
    "move_right",
    "rotate_cw",
    "rotate_ccw",
    "grow",
    "shrink",
    "move_up",
    "move_down",
    "orbit_cw",
    "orbit_ccw",
    "shake_horizontal",
    "shake_vertical",
)

# The motion family of each class. The audio cue's pitch depends on the family only,
# so sound tells "something moved sideways" but not "left" or "right".
CLASS_FAMILY: dict[str, str] = {
    "move_left": "horizontal",
    "move_right": "horizontal",
    "shake_horizontal": "horizontal",
    "move_up": "vertical",
    "move_down": "vertical",
    "shake_vertical": "vertical",
    "rotate_cw": "rotation",
    "rotate_ccw": "rotation",
    "grow": "scale",
    "shrink": "scale",
    "orbit_cw": "orbit",
    "orbit_ccw": "orbit",
}

MAX_CLASSES = len(SYNTH_CLASSES)


class SynthConfigError(ValueError):
    """A configuration that cannot produce a sensible dataset (says which field and why)."""


ClassNames = Literal["motion", "hmdb51"]
NAME_SETS: dict[str, tuple[str, ...]] = {"motion": SYNTH_CLASSES, "hmdb51": HMDB51_CLASSES}


def name_set(names: str) -> tuple[str, ...]:
    """Every class name of a name set, in label order."""
    try:
        return NAME_SETS[names]
    except KeyError:
        raise SynthConfigError(f"names must be one of {', '.join(NAME_SETS)}, got {names!r}") from None


@dataclass(frozen=True)
class SynthConfig:
    """One generation run. Every clip is a pure function of (this config, its class, its
    index), so the same config writes the same bytes.

    ``size`` is (width, height) like the real datasets' 320×240. ``event_fraction`` is
    the (min, max) share of the clip the informative motion fills; it is placed at a
    random time, and outside it the scene does only class-independent things; a share
    of 1 fills the whole clip (a trimmed clip, like HMDB51's).
    ``names`` picks the class names: the motion names (up to 12) or HMDB51's (up to 51).
    """

    classes: int = 6
    clips_per_class: int = 11
    seconds: float = 3.0
    fps: int = 15
    size: tuple[int, int] = (160, 120)
    seed: int = 0
    event_fraction: tuple[float, float] = (0.25, 0.40)
    sample_rate: int = 16000
    distractor: bool = True
    # x264 speed/quality trade-off for the kinetics layout (veryfast keeps `make run` short).
    x264_preset: str = "veryfast"
    names: ClassNames = "motion"

    def __post_init__(self) -> None:
        if isinstance(self.size, list):  # tolerate JSON round trips
            object.__setattr__(self, "size", tuple(self.size))
        if isinstance(self.event_fraction, list):
            object.__setattr__(self, "event_fraction", tuple(self.event_fraction))
        _validate(self)

    # ---- presets -------------------------------------------------------------------
    @classmethod
    def smoke(cls, **overrides) -> "SynthConfig":
        """Tiny: 6 classes × 11 clips × 3 s at 15 fps, 160×120 (a few seconds to make).
        11 clips per class give exactly 7 train / 3 test / 1 unused in the HMDB51 splits."""
        return cls(**overrides)

    @classmethod
    def demo(cls, **overrides) -> "SynthConfig":
        """For ``make run``: 10 classes × 66 clips × 6 s at 25 fps, 320×240 (HMDB51's size).
        66 clips per class give exactly 42 train / 18 test / 6 unused per split: with half
        of that the small models of the demo size learn the training clips by heart."""
        values = dict(classes=10, clips_per_class=66, seconds=6.0, fps=25, size=(320, 240))
        values.update(overrides)
        return cls(**values)

    # ---- derived ---------------------------------------------------------------------
    @property
    def class_names(self) -> tuple[str, ...]:
        """The first ``classes`` names of the name set (label = index)."""
        return name_set(self.names)[: self.classes]

    def to_dict(self) -> dict:
        """The config as JSON-ready values (tuples become lists). ``names`` is left out
        while it is "motion", so manifests and cache stamps of motion-named sets keep
        the bytes they had before the field existed."""
        out = {f.name: getattr(self, f.name) for f in fields(self)}
        if out["names"] == "motion":
            del out["names"]
        return {k: list(v) if isinstance(v, tuple) else v for k, v in out.items()}

    @property
    def num_frames(self) -> int:
        """Frames per clip."""
        return int(round(self.seconds * self.fps))

    @property
    def num_samples(self) -> int:
        """Audio samples per clip (kinetics layout)."""
        return int(round(self.seconds * self.sample_rate))

    @property
    def width(self) -> int:
        return int(self.size[0])

    @property
    def height(self) -> int:
        return int(self.size[1])


def _validate(c: SynthConfig) -> None:
    def fail(msg: str) -> None:
        raise SynthConfigError(msg)

    names = name_set(c.names)
    if not isinstance(c.classes, int) or c.classes < 2:
        fail(f"classes must be an integer ≥ 2, got {c.classes!r}")
    if c.names == "motion" and c.classes > MAX_CLASSES:
        fail(f"classes={c.classes} exceeds the {MAX_CLASSES} synthetic classes "
             f"({', '.join(SYNTH_CLASSES)}); names='hmdb51' allows up to {len(HMDB51_CLASSES)}")
    if c.classes > len(names):
        fail(f"classes={c.classes} exceeds the {len(names)} {c.names} class names")
    if not isinstance(c.clips_per_class, int) or c.clips_per_class < 3:
        fail(f"clips_per_class must be an integer ≥ 3 (train/test/unused need one each), "
             f"got {c.clips_per_class!r}")
    if not c.fps or c.fps <= 0 or c.fps > 120:
        fail(f"fps must be in (0, 120], got {c.fps!r}")
    if len(c.size) != 2 or any(int(v) != v for v in c.size):
        fail(f"size must be (width, height) integers, got {c.size!r}")
    w, h = c.size
    if w < 32 or h < 32 or w % 2 or h % 2:
        fail(f"size must be even and at least 32×32 (yuv420p), got {w}x{h}")
    lo, hi = c.event_fraction
    if not 0.05 <= lo <= hi <= 1.0:
        fail(f"event_fraction must satisfy 0.05 ≤ min ≤ max ≤ 1, got {c.event_fraction!r}")
    if c.num_frames < 16:
        fail(f"a clip needs at least 16 frames, got seconds×fps = {c.seconds}×{c.fps}")
    if int(round(c.num_frames * lo)) < 4:
        fail(f"the event would last fewer than 4 frames ({c.num_frames} frames × {lo}); "
             "use a longer clip or a larger event_fraction")
    if c.sample_rate < 8000:
        fail(f"sample_rate must be ≥ 8000 Hz, got {c.sample_rate}")
