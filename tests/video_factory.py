"""Small fixture videos for the tests, written with PyAV (importable by any test).

Every frame carries its own index: a brightness ramp plus an 8-bit binary code in
large blocks, so a decoded frame can be identified (``identify``) even after lossy
compression and a resize. ``full_decode`` is the reference the readers are compared
to: every frame, decoded in order, with nothing clever.
"""
from __future__ import annotations

from dataclasses import dataclass
from fractions import Fraction
from pathlib import Path

import av
import numpy as np


@dataclass(frozen=True)
class Kind:
    """One container/codec combination the readers must open."""

    suffix: str
    codec: str
    audio_codec: str | None = None  # used when audio is asked for
    options: tuple[tuple[str, str], ...] = ()
    bframes: int = 0
    size: tuple[int, int] = (64, 48)  # (W, H)
    pix_fmt: str = "yuv420p"


KINDS: dict[str, Kind] = {
    "avi-mpeg4": Kind(".avi", "mpeg4", "pcm_s16le", (("qscale", "2"),)),
    "mp4-h264": Kind(".mp4", "libx264", "aac", (("crf", "12"), ("preset", "ultrafast"), ("bf", "2")), bframes=2),
    "mkv-h264": Kind(".mkv", "libx264", "libopus", (("crf", "12"), ("preset", "ultrafast"), ("bf", "3")), bframes=3),
    "webm-vp9": Kind(".webm", "libvpx-vp9", "libopus", (("crf", "10"), ("b", "0"), ("deadline", "realtime"), ("cpu-used", "8"))),
    "mov-mpeg4": Kind(".mov", "mpeg4", "aac", (("qscale", "2"),), bframes=2),
    "mpg-mpeg2": Kind(".mpg", "mpeg2video", "mp2", (("qscale", "2"),), bframes=2),
    "wmv-wmv2": Kind(".wmv", "wmv2", None, (("qscale", "2"),)),
    "flv-flv1": Kind(".flv", "flv", None, (("qscale", "2"),)),
    "3gp-h263": Kind(".3gp", "h263", None, (("qscale", "2"),), size=(128, 96)),
}
# The four the issue names; the rest are exercised by a smaller test.
MAIN_KINDS = ("avi-mpeg4", "mp4-h264", "mkv-h264", "webm-vp9")

_BITS = 8  # frame index code: 8 blocks, one bit each → up to 256 distinct frames


def frame_pattern(index: int, width: int, height: int) -> np.ndarray:
    """RGB uint8 (H, W, 3) image that encodes ``index``: top half a binary code in
    blocks (white=1), bottom half a grey level that rises with the index."""
    img = np.zeros((height, width, 3), np.uint8)
    block = width // _BITS
    for bit in range(_BITS):
        if (index >> bit) & 1:
            img[: height // 2, bit * block : (bit + 1) * block] = 255
    img[height // 2 :, :, 0] = (16 + 3 * index) % 256
    img[height // 2 :, :, 1] = 128
    img[height // 2 :, :, 2] = 255 - (16 + 3 * index) % 256
    return img


def make_video(
    path: Path,
    kind: str | Kind = "avi-mpeg4",
    *,
    num_frames: int = 48,
    fps: int = 25,
    gop: int = 12,
    size: tuple[int, int] | None = None,
    audio_tone: tuple[float, float] | None = None,
    audio_rate: int = 44100,
    duration_s: float | None = None,
) -> Path:
    """Write a video of ``num_frames`` frames (``frame_pattern`` each) at ``fps``.

    ``audio_tone=(start_s, freq_hz)`` adds a stereo audio track that is silent until
    ``start_s`` and then a sine of ``freq_hz`` until ``duration_s`` (default: the
    video's length). Returns ``path``.
    """
    spec = KINDS[kind] if isinstance(kind, str) else kind
    width, height = size or spec.size
    path = Path(path)
    with av.open(str(path), "w") as out:
        vs = out.add_stream(spec.codec, rate=fps, options=dict(spec.options))
        vs.width, vs.height, vs.pix_fmt = width, height, spec.pix_fmt
        vs.codec_context.gop_size = gop
        if spec.bframes and spec.codec not in {"libx264"}:
            vs.codec_context.max_b_frames = spec.bframes
        a_stream = None
        if audio_tone is not None:
            if spec.audio_codec is None:
                raise ValueError(f"{spec.suffix} fixtures carry no audio")
            rate = 48000 if spec.audio_codec == "libopus" else audio_rate
            a_stream = out.add_stream(spec.audio_codec, rate=rate, layout="stereo")
        for i in range(num_frames):
            frame = av.VideoFrame.from_ndarray(frame_pattern(i, width, height), format="rgb24")
            frame.pts = i
            frame.time_base = Fraction(1, fps)
            for packet in vs.encode(frame):
                out.mux(packet)
        for packet in vs.encode():
            out.mux(packet)
        if a_stream is not None:
            start_s, freq = audio_tone
            _write_tone(out, a_stream, start_s, freq, duration_s or num_frames / fps)
    return path


def tone_samples(rate: int, start_s: float, freq: float, duration_s: float) -> np.ndarray:
    """Mono float32 signal: zeros before ``start_s``, then a 0.5-amplitude sine."""
    t = np.arange(int(round(duration_s * rate))) / rate
    return np.where(t >= start_s, 0.5 * np.sin(2 * np.pi * freq * t), 0.0).astype(np.float32)


def _write_tone(out, stream, start_s: float, freq: float, duration_s: float) -> None:
    rate = stream.codec_context.sample_rate
    mono = tone_samples(rate, start_s, freq, duration_s)
    chunk = stream.codec_context.frame_size or 1024
    fmt = stream.codec_context.format.name  # e.g. fltp, s16
    for offset in range(0, len(mono), chunk):
        part = mono[offset : offset + chunk]
        if len(part) < chunk and stream.codec_context.frame_size:
            part = np.pad(part, (0, chunk - len(part)))
        stereo = np.stack([part, part])
        if fmt == "s16":
            data = (stereo.T.reshape(1, -1) * 32767).astype(np.int16)
        elif fmt == "s16p":
            data = (stereo * 32767).astype(np.int16)
        elif fmt == "flt":
            data = stereo.T.reshape(1, -1).astype(np.float32)
        else:  # fltp
            data = stereo.astype(np.float32)
        frame = av.AudioFrame.from_ndarray(data, format=fmt, layout="stereo")
        frame.sample_rate = rate
        frame.pts = offset
        frame.time_base = Fraction(1, rate)
        for packet in stream.encode(frame):
            out.mux(packet)
    for packet in stream.encode():
        out.mux(packet)


def full_decode(path: Path) -> np.ndarray:
    """Reference decode: every frame of the first video stream, in order, as RGB."""
    with av.open(str(path)) as container:
        frames = [f.to_ndarray(format="rgb24") for f in container.decode(video=0)]
    return np.stack(frames)


def identify(frames: np.ndarray, reference: np.ndarray) -> np.ndarray:
    """Index into ``reference`` of the nearest frame (mean absolute error) for each
    frame; both arrays (T, H, W, 3) of the same size."""
    a = frames.astype(np.int16)[:, None]
    b = reference.astype(np.int16)[None]
    return np.abs(a - b).mean(axis=(2, 3, 4)).argmin(axis=1)


def truncate(src: Path, dst: Path, fraction: float) -> Path:
    """Copy the first ``fraction`` of ``src``'s bytes to ``dst`` (a cut download)."""
    data = Path(src).read_bytes()
    Path(dst).write_bytes(data[: int(len(data) * fraction)])
    return Path(dst)


def corrupt(src: Path, dst: Path, start_fraction: float = 0.1, seed: int = 0) -> Path:
    """Copy ``src`` to ``dst`` with every byte after ``start_fraction`` replaced by
    random noise: the header survives, the coded frames do not."""
    data = bytearray(Path(src).read_bytes())
    start = int(len(data) * start_fraction)
    noise = np.random.default_rng(seed).integers(0, 256, len(data) - start, dtype=np.uint8)
    data[start:] = noise.tobytes()
    Path(dst).write_bytes(bytes(data))
    return Path(dst)
