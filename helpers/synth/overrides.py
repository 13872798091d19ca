"""Resize the notebooks' generated stand-in from the environment, for a rehearsal.

``HELPERS_SYNTH_CLASSES=K`` asks for K classes: up to 12 the motion-named classes (as
the presets use), 13 to 51 the first K of HMDB51's real class names
(``SynthConfig.names="hmdb51"``), so heads, confusion matrices, reports and top-5 run
at HMDB51's 51-class shape. ``HELPERS_SYNTH_CLIPS=N`` sets the clips per class (≥ 3:
every class keeps a train, a test and an unused clip in each split), e.g. 51 × 4 for
a small full-width rehearsal. Unset or empty: the preset's value.
"""
from __future__ import annotations

import os
from collections.abc import Mapping

from helpers.settings import env_whole
from helpers.synth.config import MAX_CLASSES, NAME_SETS

SYNTH_CLASSES_ENV = "HELPERS_SYNTH_CLASSES"
SYNTH_CLIPS_ENV = "HELPERS_SYNTH_CLIPS"
MIN_CLIPS = 3


def env_overrides(environ: Mapping[str, str] | None = None) -> dict[str, object]:
    """The :class:`~helpers.synth.SynthConfig` fields the environment sets (``classes``,
    ``names``, ``clips_per_class``); empty when neither variable is set."""
    env = os.environ if environ is None else environ
    out: dict[str, object] = {}
    classes = env_whole(SYNTH_CLASSES_ENV, 2, len(NAME_SETS["hmdb51"]), env)
    if classes is not None:
        out["classes"] = classes
        out["names"] = "motion" if classes <= MAX_CLASSES else "hmdb51"
    clips = env_whole(SYNTH_CLIPS_ENV, MIN_CLIPS, None, env)
    if clips is not None:
        out["clips_per_class"] = clips
    return out
