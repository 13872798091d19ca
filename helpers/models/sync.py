"""Training pairs for the audio-visual synchronisation head: each clip once with its own
audio (label 1) and once with the audio shifted in time (label 0).

Why a circular shift: it moves the audio events relative to the frames while keeping
the same sounds and loudness, so the head must compare *timing*, not notice silence
padding. The shift is at least ``min_shift_s`` (default 0.5 s, well beyond the ±0.1 s
a viewer tolerates) and at most half the window, in a random direction.
"""
from __future__ import annotations

import torch
from torch import Tensor


def shift_audio(x: Tensor, shifts: Tensor) -> Tensor:
    """Roll each row of ``x`` (B, …, N) along its last axis by ``shifts[b]`` steps."""
    n = x.shape[-1]
    idx = (torch.arange(n, device=x.device)[None, :] - shifts.to(x.device)[:, None]) % n  # (B, N)
    idx = idx.view(x.shape[0], *([1] * (x.dim() - 2)), n).expand_as(x)
    return x.gather(-1, idx)


def make_sync_pairs(batch: dict, *, min_shift_s: float = 0.5, max_shift_s: float | None = None,
                    sample_rate: int = 16000, mel_hop_length: int = 160,
                    generator: torch.Generator | None = None) -> dict:
    """A batch twice as long: rows ``[:B]`` aligned (``sync_label`` 1.0), rows ``[B:]``
    with ``audio`` and ``audio_mel`` shifted by the same random amount in seconds
    (``sync_label`` 0.0; ``sync_shift_s`` holds the signed shift, 0 for aligned rows).
    Tensors of other keys are repeated; lists are doubled. Clips without audio keep
    ``audio_mask`` False, so the loss should be masked with it.

    Raises ``ValueError`` when the window is too short for a shift of ``min_shift_s``.
    """
    if "audio" not in batch and "audio_mel" not in batch:
        raise ValueError("batch has neither 'audio' nor 'audio_mel' to shift")
    ref = batch["audio"] if "audio" in batch else batch["audio_mel"]
    b = ref.shape[0]
    window_s = (batch["audio"].shape[-1] / sample_rate if "audio" in batch
                else batch["audio_mel"].shape[-1] * mel_hop_length / sample_rate)
    hi = window_s / 2 if max_shift_s is None else min(max_shift_s, window_s / 2)
    if hi < min_shift_s:
        raise ValueError(f"audio window of {window_s:.2f} s is too short for a shift of at least {min_shift_s} s")
    mag = min_shift_s + (hi - min_shift_s) * torch.rand(b, generator=generator)
    sign = torch.where(torch.rand(b, generator=generator) < 0.5, -1.0, 1.0)
    shift_s = mag * sign
    out: dict = {}
    for key, value in batch.items():
        if key == "audio":
            out[key] = torch.cat([value, shift_audio(value, torch.round(shift_s * sample_rate).long())])
        elif key == "audio_mel":
            steps = torch.round(shift_s * sample_rate / mel_hop_length).long()
            out[key] = torch.cat([value, shift_audio(value, steps)])
        elif isinstance(value, Tensor):
            out[key] = torch.cat([value, value])
        elif isinstance(value, list):
            out[key] = value + value
        else:
            out[key] = value
    out["sync_label"] = torch.cat([torch.ones(b), torch.zeros(b)])
    out["sync_shift_s"] = torch.cat([torch.zeros(b), shift_s])
    return out
