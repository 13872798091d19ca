"""The generated stand-in for HMDB51 and Kinetics: learnable, honest, reproducible.

Classes differ only in motion (direction, rotation sense, growth, orbit, shake) that
happens in a random window covering 25–40 % of the clip; appearance and start state
are drawn from the same distribution for every class; a tone whose pitch names the
motion family (not the direction) sounds during the event; each clip has a caption.

    from helpers.synth import SynthConfig, generate, SYNTH_CLASSES
    result = generate("hmdb51", out_dir, SynthConfig.smoke())

``SynthConfig(names="hmdb51", classes=51)`` names the classes after HMDB51's 51 actions
instead (generated motions under real names: for rehearsing 51-class shapes only).

Modules: ``config`` (classes, SynthConfig), ``recipes`` (the motion a class shows),
``motion`` (tracks, event window), ``scene`` (drawing), ``audio`` (sound), ``caption``,
``clip`` (one clip in memory), ``encode`` (PyAV writer), ``layouts`` (names, splits,
index files), ``builder`` (:func:`generate`), ``cli``. Heavy imports (PyAV, OpenCV)
happen only when used.
"""
from __future__ import annotations

from typing import TYPE_CHECKING

from helpers.synth.config import MAX_CLASSES, SYNTH_CLASSES, SynthConfig, SynthConfigError

if TYPE_CHECKING:  # pragma: no cover
    from helpers.synth.clip import SynthClip, clip_seed, render_clip
    from helpers.synth.encode import VideoEncodeError, encode_video, write_video
    from helpers.synth.builder import SynthResult, generate

__all__ = [
    "MAX_CLASSES", "SYNTH_CLASSES", "SynthConfig", "SynthConfigError",
    "SynthClip", "clip_seed", "render_clip",
    "VideoEncodeError", "encode_video", "write_video",
    "SynthResult", "generate",
]

_LAZY = {
    "SynthClip": "helpers.synth.clip", "clip_seed": "helpers.synth.clip", "render_clip": "helpers.synth.clip",
    "VideoEncodeError": "helpers.synth.encode", "encode_video": "helpers.synth.encode",
    "write_video": "helpers.synth.encode",
    "SynthResult": "helpers.synth.builder", "generate": "helpers.synth.builder",
}


def __getattr__(name: str):
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module 'helpers.synth' has no attribute {name!r}")
