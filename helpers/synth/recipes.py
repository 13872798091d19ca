"""What each class shows: a motion pattern, and for some HMDB51-named classes a second one.

A motion-named class shows its own pattern. HMDB51-named class ``i`` (label order of
:data:`~helpers.hmdb51_official.HMDB51_CLASSES`) shows pattern ``i % 12`` of
:data:`~helpers.synth.config.SYNTH_CLASSES`, and from ``i = 12`` on a second pattern at
the same time, picked by ``i // 12`` among those that move another part of the pose
(a translation that also turns, a rotation that also grows…). So the 51 classes are 51
different motions, but the names are only labels: "brush_hair" shows an object moving
left. The set exists to exercise 51-class shapes (heads, confusion matrix, top-5),
not to measure accuracy: with a few clips per class nothing is learnt reliably, and
classes with the same first pattern differ only in the second (with the same sound).
"""
from __future__ import annotations

from dataclasses import dataclass

from helpers.synth.config import CLASS_FAMILY, NAME_SETS, SYNTH_CLASSES

# The part of the pose each motion family changes; two patterns combine only when
# their parts are disjoint, so each keeps exactly its own single-pattern arithmetic.
FAMILY_PARTS: dict[str, frozenset[str]] = {
    "horizontal": frozenset({"cx"}),
    "vertical": frozenset({"cy"}),
    "orbit": frozenset({"cx", "cy"}),
    "rotation": frozenset({"angle"}),
    "scale": frozenset({"radius"}),
}

# Second patterns, by the first pattern's family, for ``i // 12`` = 1, 2, 3, 4.
SECOND_PATTERNS: dict[str, tuple[str, str, str, str]] = {
    "horizontal": ("rotate_cw", "rotate_ccw", "grow", "shrink"),
    "vertical": ("rotate_cw", "rotate_ccw", "grow", "shrink"),
    "orbit": ("rotate_cw", "rotate_ccw", "grow", "shrink"),
    "rotation": ("grow", "shrink", "move_left", "move_right"),
    "scale": ("rotate_cw", "rotate_ccw", "move_left", "move_right"),
}


@dataclass(frozen=True)
class Recipe:
    """The motion a class shows: ``pattern`` (a :data:`SYNTH_CLASSES` name; it also sets
    the sound's family) and optionally ``second``, played over the same event window."""

    pattern: str
    second: str | None = None

    def __post_init__(self) -> None:
        for name in (self.pattern, self.second):
            if name is not None and name not in SYNTH_CLASSES:
                raise KeyError(f"unknown motion pattern {name!r}; known: {', '.join(SYNTH_CLASSES)}")
        if self.second is not None and parts(self.pattern) & parts(self.second):
            raise ValueError(f"{self.pattern} and {self.second} move the same part of the pose")


def parts(pattern: str) -> frozenset[str]:
    """The pose parts (cx, cy, angle, radius) a pattern changes."""
    return FAMILY_PARTS[CLASS_FAMILY[pattern]]


def label_of(class_name: str) -> int:
    """The class's position in its name set (the name sets share no name)."""
    for names in NAME_SETS.values():
        if class_name in names:
            return names.index(class_name)
    raise KeyError(f"unknown synthetic class {class_name!r}; known: the motion names "
                   f"({', '.join(SYNTH_CLASSES)}) and HMDB51's 51 class names")


def recipe_of(class_name: str) -> Recipe:
    """The motion that class ``class_name`` (of either name set) shows."""
    if class_name in SYNTH_CLASSES:
        return Recipe(class_name)
    label = label_of(class_name)
    pattern = SYNTH_CLASSES[label % len(SYNTH_CLASSES)]
    variant = label // len(SYNTH_CLASSES)
    second = SECOND_PATTERNS[CLASS_FAMILY[pattern]][variant - 1] if variant else None
    return Recipe(pattern, second)
