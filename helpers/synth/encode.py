"""Write frames (and optional audio) to a video file with PyAV, reproducibly.

Reproducible means: the same input gives the same bytes on every run, so the
generated archives can be compared byte for byte. Encoders run single-threaded and
with FFmpeg's ``bitexact`` flags (no version strings or timing-dependent choices),
and no container gets a creation time.

Also used by other helpers' tests to make fixture videos.
"""
from __future__ import annotations

import io
from fractions import Fraction
from pathlib import Path

import numpy as np

from helpers.atomic import atomic_write_bytes

# container -> (format name, default video codec, default audio codec)
CONTAINERS: dict[str, tuple[str, str, str]] = {
    ".avi": ("avi", "mpeg4", "pcm_s16le"),
    ".mp4": ("mp4", "libx264", "aac"),
    ".mkv": ("matroska", "libx264", "aac"),
    ".mov": ("mov", "libx264", "aac"),
    ".webm": ("webm", "libvpx-vp9", "libopus"),
}


class VideoEncodeError(RuntimeError):
    """Frames or audio that cannot be written (wrong shape/dtype, unknown container…)."""


def _as_rate(fps: float | Fraction) -> Fraction:
    return Fraction(fps).limit_denominator(1001) if not isinstance(fps, Fraction) else fps


def encode_video(frames: np.ndarray, fps: float | Fraction, *, container: str = ".mp4",
                 audio: np.ndarray | None = None, sample_rate: int = 16000,
                 codec: str | None = None, audio_codec: str | None = None,
                 options: dict[str, str] | None = None, gop: int | None = None,
                 bit_rate: int | None = None) -> bytes:
    """Encode uint8 (T, H, W, 3) RGB ``frames`` (and mono float ``audio`` in [-1, 1]) and
    return the file's bytes. ``container`` is a suffix from :data:`CONTAINERS`.

    mpeg4 gets the ``XVID`` tag (what HMDB51's AVIs carry); libx264 defaults to
    ``preset=veryfast, crf=20`` without mb-tree (see below); ``gop`` defaults to 2 s of
    frames so seeking stays cheap.
    """
    import av

    frames = np.asarray(frames)
    if frames.ndim != 4 or frames.shape[-1] != 3 or frames.dtype != np.uint8 or len(frames) == 0:
        raise VideoEncodeError(f"frames must be non-empty uint8 (T, H, W, 3), got {frames.dtype} {frames.shape}")
    suffix = container if container.startswith(".") else f".{container}"
    if suffix not in CONTAINERS:
        raise VideoEncodeError(f"unknown container {container!r}; known: {', '.join(CONTAINERS)}")
    fmt, default_vcodec, default_acodec = CONTAINERS[suffix]
    vcodec = codec or default_vcodec
    height, width = frames.shape[1:3]
    rate = _as_rate(fps)
    bitexact = av.codec.context.Flags.bitexact

    buf = io.BytesIO()
    with av.open(buf, "w", format=fmt, options={"fflags": "+bitexact"}) as out:
        opts = dict(options or {})
        if vcodec == "libx264":
            opts.setdefault("preset", "veryfast")
            opts.setdefault("crf", "20")
            opts.setdefault("threads", "1")
            # x264's macroblock-tree rate control gave run-to-run different bytes for the
            # same frames (measured: it depends on heap state); without it output is stable.
            params = opts.get("x264-params", "")
            if "mbtree" not in params:
                opts["x264-params"] = f"{params}:mbtree=0" if params else "mbtree=0"
        try:
            vstream = out.add_stream(vcodec, rate=rate, options=opts)
        except ValueError as exc:  # unknown codec name
            raise VideoEncodeError(f"cannot add a {vcodec!r} video stream to {fmt}: {exc}") from exc
        vstream.width, vstream.height = width, height
        vstream.pix_fmt = "yuv420p"
        ctx = vstream.codec_context
        ctx.thread_count = 1
        ctx.flags |= bitexact
        ctx.gop_size = gop or max(1, int(round(float(rate) * 2)))
        if vcodec == "mpeg4":
            ctx.codec_tag = "XVID"
            ctx.bit_rate = bit_rate or int(width * height * float(rate) * 0.2)
        elif bit_rate:
            ctx.bit_rate = bit_rate

        astream = None
        if audio is not None:
            audio = np.asarray(audio, dtype=np.float32)
            if audio.ndim != 1:
                raise VideoEncodeError(f"audio must be mono (N,), got shape {audio.shape}")
            acodec = audio_codec or default_acodec
            # FFmpeg's default AAC coder ("twoloop") costs more than the video; "fast" is
            # plenty for a tone over noise.
            aopts = {"aac_coder": "fast"} if acodec == "aac" else {}
            try:
                astream = out.add_stream(acodec, rate=sample_rate, options=aopts)
            except ValueError as exc:
                raise VideoEncodeError(f"cannot add a {acodec!r} audio stream to {fmt}: {exc}") from exc
            astream.layout = "mono"
            astream.codec_context.flags |= bitexact
            astream.codec_context.thread_count = 1

        # audio is cut into encoder-sized frames up front and fed alongside the video,
        # so the file interleaves the two streams in time like a real recording
        pending = _audio_frames(astream, audio, sample_rate) if astream is not None else []
        ctx.time_base = Fraction(1, 1) / rate
        for index, image in enumerate(frames):
            while pending and pending[0].pts / sample_rate < (index + 1) / rate:
                for packet in astream.encode(pending.pop(0)):
                    out.mux(packet)
            frame = _yuv420p_frame(image)
            frame.pts = index          # explicit timestamps (the encoder's rate control reads them)
            frame.time_base = ctx.time_base
            for packet in vstream.encode(frame):
                out.mux(packet)
        for packet in vstream.encode():
            out.mux(packet)
        if astream is not None:
            for chunk in [*pending, None]:
                for packet in astream.encode(chunk):
                    out.mux(packet)
    return buf.getvalue()


def _yuv420p_frame(image: np.ndarray):
    """RGB → yuv420p (BT.601, limited range: what decoders assume for untagged video).
    OpenCV does it faster than swscale's unscaled path; odd sizes go to swscale."""
    import av

    height, width = image.shape[:2]
    if width % 2 == 0 and height % 2 == 0:
        import cv2

        return av.VideoFrame.from_ndarray(cv2.cvtColor(image, cv2.COLOR_RGB2YUV_I420), format="yuv420p")
    return av.VideoFrame.from_ndarray(np.ascontiguousarray(image), format="rgb24").reformat(format="yuv420p")


def _audio_frames(stream, audio: np.ndarray, sample_rate: int) -> list:
    """The waveform as frames of the encoder's preferred size and sample format."""
    import av

    frame_size = stream.codec_context.frame_size or 1024
    resampler = av.AudioResampler(format=stream.format.name, layout="mono", rate=sample_rate,
                                  frame_size=frame_size)
    whole = av.AudioFrame.from_ndarray(np.clip(audio, -1, 1)[None, :], format="fltp", layout="mono")
    whole.sample_rate = sample_rate
    whole.pts = 0
    chunks = [*resampler.resample(whole), *resampler.resample(None)]
    start = 0
    for chunk in chunks:  # timestamps in samples, so interleaving can compare times
        chunk.pts = start
        start += chunk.samples
    return chunks


def write_video(path: Path, frames: np.ndarray, fps: float | Fraction, audio: np.ndarray | None = None,
                sample_rate: int = 16000, codec: str | None = None, *, audio_codec: str | None = None,
                options: dict[str, str] | None = None, gop: int | None = None,
                bit_rate: int | None = None) -> Path:
    """Encode to ``path`` (container from its suffix), atomically: a ``.part`` file is
    written next to it and renamed, so a reader never sees half a video."""
    path = Path(path)
    data = encode_video(frames, fps, container=path.suffix.lower(), audio=audio, sample_rate=sample_rate,
                        codec=codec, audio_codec=audio_codec, options=options, gop=gop, bit_rate=bit_rate)
    write_bytes_atomic(path, data)
    return path


def write_bytes_atomic(path: Path, data: bytes) -> Path:
    """Write ``data`` to ``path`` via a temporary ``.part`` file and ``os.replace``."""
    return atomic_write_bytes(path, data)
