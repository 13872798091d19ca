"""One clip, end to end in memory: event window, appearance, track, frames, sound,
caption. A clip is a pure function of (config, class, clip seed). The class's motion
comes from its recipe (:mod:`helpers.synth.recipes`), so either name set works."""
from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from helpers.synth.audio import render_audio
from helpers.synth.caption import make_caption
from helpers.synth.config import SynthConfig
from helpers.synth.motion import dissolve_frames, sample_distractor, sample_event, sample_track
from helpers.synth.recipes import label_of, recipe_of
from helpers.synth.scene import render_background, render_frames, sample_appearance


@dataclass
class SynthClip:
    """A rendered clip. ``event_start``/``event_end`` are frame indices, half-open:
    the motion happens in frames ``[event_start, event_end)``; the audio tone covers
    the same time span (``event_start / fps`` to ``event_end / fps`` seconds). Frames
    ``[event_end, dissolve_end)`` cross-fade into a fresh class-independent rest pose."""

    class_name: str
    label: int
    seed: int
    frames: np.ndarray                      # uint8 (T, H, W, 3) RGB
    audio: np.ndarray | None                # float32 (N,) mono at config.sample_rate
    fps: int
    sample_rate: int
    event_start: int
    event_end: int
    dissolve_end: int                       # frames [event_end, dissolve_end) cross-fade to a fresh pose
    caption: str
    attributes: dict = field(default_factory=dict)

    @property
    def num_frames(self) -> int:
        return int(self.frames.shape[0])


def clip_seed(seed: int, label: int, index: int) -> int:
    """The seed of clip ``index`` of class ``label``: independent of how many classes or
    clips a run asks for, so a smaller run's clips are a subset of a larger run's."""
    return int(np.random.SeedSequence([int(seed), int(label), int(index)]).generate_state(1)[0])


def render_clip(class_name: str, config: SynthConfig, seed: int, *, audio: bool = True) -> SynthClip:
    """Render one clip of ``class_name`` with the config's size, length and fps.

    Separate random streams feed the event timing, the look, the motion and the sound,
    so changing one part of the generator does not reshuffle the others.
    """
    recipe = recipe_of(class_name)  # KeyError for an unknown name
    event_rng, look_rng, motion_rng, sound_rng = (
        np.random.default_rng(s) for s in np.random.SeedSequence(seed).spawn(4))
    w, h, n = config.width, config.height, config.num_frames

    dissolve = dissolve_frames(config.fps)
    event = sample_event(n, config.event_fraction, event_rng, tail=dissolve)
    appearance = sample_appearance(look_rng)
    background = render_background(appearance, w, h, look_rng)
    distractor = sample_distractor(n, config.fps, w, h, look_rng) if config.distractor else None
    track, motion_params = sample_track(recipe.pattern, n, event, w, h, motion_rng, dissolve=dissolve,
                                        second=recipe.second)
    frames = render_frames(track, appearance, background, distractor)

    waveform, audio_params = None, {}
    if audio:
        waveform, audio_params = render_audio(recipe.pattern, config.num_samples, config.sample_rate,
                                              event.start / config.fps, event.end / config.fps, sound_rng)

    lo, hi = config.event_fraction
    share = event.length / n
    speed = "quickly" if share < lo + (hi - lo) / 3 else "slowly" if share > hi - (hi - lo) / 3 else None
    attributes = {
        "shape": appearance.shape,
        "colour": appearance.colour,
        "texture": appearance.texture,
        "background_colour": appearance.background_colour,
        "background_pattern": appearance.background_pattern,
        "speed": speed or "moderately",
        **{k: round(float(v), 3) for k, v in {**motion_params, **audio_params}.items()},
    }
    if recipe.pattern != class_name:  # a name that does not say the motion: record it
        attributes["motion"] = recipe.pattern if recipe.second is None else f"{recipe.pattern}+{recipe.second}"
    return SynthClip(
        class_name=class_name,
        label=label_of(class_name),
        seed=int(seed),
        frames=frames,
        audio=waveform,
        fps=config.fps,
        sample_rate=config.sample_rate,
        event_start=event.start,
        event_end=event.end,
        dissolve_end=min(event.end + dissolve, n),
        caption=make_caption(recipe.pattern, appearance, speed, second=recipe.second),
        attributes=attributes,
    )
