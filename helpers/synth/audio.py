"""The clip's sound: a tone during the event window over low background noise, plus a
couple of class-independent clicks.

The tone's pitch depends on the motion *family* (sideways, up-down, rotation, scale,
orbit), not on the direction, so sound alone narrows the class down without deciding
it (audio-only accuracy tops out at one guess per family), and its onset and offset
tell a sampler where the event is. A small per-clip pitch jitter keeps families apart.
"""
from __future__ import annotations

import numpy as np

from helpers.synth.config import CLASS_FAMILY

# Base pitch per motion family in Hz (G4, C5, E5, G5, B5: far apart on the mel scale).
FAMILY_PITCH_HZ: dict[str, float] = {
    "horizontal": 392.0,
    "rotation": 523.25,
    "scale": 659.25,
    "vertical": 783.99,
    "orbit": 987.77,
}

NOISE_RMS = 0.01
_FADE_S = 0.015


def render_audio(class_name: str, num_samples: int, sample_rate: int, event_start_s: float,
                 event_end_s: float, rng: np.random.Generator) -> tuple[np.ndarray, dict[str, float]]:
    """Mono float32 waveform in [-1, 1] of ``num_samples`` samples, and the drawn
    parameters (pitch, level) for the manifest."""
    pitch = FAMILY_PITCH_HZ[CLASS_FAMILY[class_name]] * rng.uniform(0.97, 1.03)
    level = rng.uniform(0.22, 0.35)
    wave = rng.normal(0.0, NOISE_RMS, num_samples)

    # class-independent clicks (short decaying noise bursts) anywhere in the clip
    for _ in range(int(rng.integers(0, 3))):
        at = int(rng.integers(0, num_samples))
        n = min(int(0.006 * sample_rate), num_samples - at)
        burst = rng.normal(0.0, 1.0, n) * np.exp(-np.arange(n) / (0.0015 * sample_rate))
        wave[at:at + n] += rng.uniform(0.05, 0.12) * burst

    a = int(round(event_start_s * sample_rate))
    b = min(int(round(event_end_s * sample_rate)), num_samples)
    if b > a:
        t = np.arange(b - a) / sample_rate
        tone = np.sin(2 * np.pi * pitch * t) + 0.3 * np.sin(2 * np.pi * 2 * pitch * t)
        envelope = np.ones(b - a)
        fade = min(int(_FADE_S * sample_rate), (b - a) // 2)
        if fade > 0:
            ramp = 0.5 - 0.5 * np.cos(np.linspace(0.0, np.pi, fade))
            envelope[:fade] = ramp
            envelope[-fade:] = ramp[::-1]
        wave[a:b] += level / 1.3 * tone * envelope
    return np.clip(wave, -1.0, 1.0).astype(np.float32), {"pitch_hz": float(pitch), "level": float(level)}
