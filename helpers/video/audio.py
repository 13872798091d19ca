"""The audio track of a clip: 16 kHz mono waveform of a time window, its log-mel, and
its loudness per time window.

Times are seconds on the video's timeline (0 = the first video frame), so a clip's
window is ``(first_index / fps, (last_index + 1) / fps)`` (``sampling.clip_window``)
whatever the container's start timestamps are. A file without an audio track
(every HMDB51 clip) gives zeros and ``has_audio=False``: not an error. A file that
cannot be opened at all raises ``VideoDecodeError`` like the video readers.
"""
from __future__ import annotations

from contextlib import contextmanager
from pathlib import Path
from typing import Any, Iterator

import numpy as np

from helpers.video.reader import VideoDecodeError, _av_errors, _check_file


def read_audio(
    path: str | Path, start_s: float, end_s: float, sample_rate: int = 16000
) -> tuple[np.ndarray, bool]:
    """float32 mono waveform of ``[start_s, end_s)`` at ``sample_rate``, exactly
    ``round((end_s - start_s) * sample_rate)`` samples (zero-padded where the track
    is shorter), and whether the file has an audio track."""
    path = Path(path)
    if end_s < start_s:
        raise ValueError(f"end_s {end_s} < start_s {start_s}")
    n = int(round((end_s - start_s) * sample_rate))
    out = np.zeros(n, np.float32)
    errors = _av_errors()
    with _opened_audio(path) as opened:
        if opened is None:
            return out, False
        container, stream, origin = opened
        if start_s > 0.5 and stream.time_base:
            # audio packets are all keyframes: seek a bit before, trim below
            target = int((origin + start_s - 0.25) / stream.time_base)
            try:
                container.seek(max(target, 0), stream=stream, backward=True)
            except errors:
                container.seek(0)
        _decode_window(container, stream, origin, start_s, sample_rate, out)
    return out, True


@contextmanager
def _opened_audio(path: Path) -> Iterator[tuple[Any, Any, float] | None]:
    """``(container, its first audio stream, the timeline origin)``, or None for a file
    without sound; PyAV's errors while it is open become :class:`VideoDecodeError`."""
    import av

    _check_file(path)
    errors = _av_errors()
    try:
        with av.open(str(path), metadata_errors="ignore") as container:
            if not container.streams.audio:
                yield None
                return
            stream = container.streams.audio[0]
            yield container, stream, _timeline_origin(container, stream)
    except VideoDecodeError:
        raise
    except errors as exc:
        raise VideoDecodeError(path, f"audio: {type(exc).__name__}: {exc}") from exc


def _timeline_origin(container, stream) -> float:
    """Seconds of the first video frame (or of the audio when there is no video)."""
    ref = container.streams.video[0] if container.streams.video else stream
    if ref.start_time is not None and ref.time_base:
        return float(ref.start_time * ref.time_base)
    return 0.0


def _decode_window(container, stream, origin: float, start_s: float, sample_rate: int, out: np.ndarray) -> None:
    """Decode, resample to mono float and copy the samples that fall in the window."""
    import av

    resampler = av.AudioResampler(format="flt", layout="mono", rate=sample_rate)
    n = len(out)
    cursor: int | None = None  # window position of the next resampled sample

    def place(frames) -> bool:
        nonlocal cursor
        for frame in frames:
            data = frame.to_ndarray().reshape(-1)
            if frame.pts is not None:  # the resampler keeps timestamps (delay included)
                cursor = int(round((frame.pts * frame.time_base - origin - start_s) * sample_rate))
            elif cursor is None:
                cursor = 0
            lo, hi = max(cursor, 0), min(cursor + len(data), n)
            if hi > lo:
                out[lo:hi] = data[lo - cursor : hi - cursor]
            cursor += len(data)
            if cursor >= n:
                return True
        return False

    for frame in _audio_frames(container, stream):
        if place(resampler.resample(frame)):
            return
    place(resampler.resample(None))


def _audio_frames(container: Any, stream: Any) -> Iterator[Any]:
    """The stream's decoded audio frames in order; a damaged packet leaves silence, not a
    failed clip."""
    errors = _av_errors()
    for packet in container.demux(stream):
        try:
            decoded = packet.decode()
        except errors:
            continue
        yield from decoded


def window_rms(path: str | Path, edges: np.ndarray) -> tuple[np.ndarray, bool]:
    """RMS (full scale 1) of the audio track (channels averaged) in each window
    ``[edges[i], edges[i+1])`` of seconds on the video timeline, and whether the file has
    an audio track (zeros and False without one). Read at the track's own sample rate: an
    energy needs no resampling, which costs more than decoding. Windows the track does
    not reach are 0."""
    path = Path(path)
    edges = np.asarray(edges, np.float64)
    out = np.zeros(max(len(edges) - 1, 0), np.float32)
    with _opened_audio(path) as opened:
        if opened is None:
            return out, False
        container, stream, origin = opened
        rate = int(stream.rate or stream.codec_context.sample_rate or 0)
        channels = max(int(stream.codec_context.channels or 1), 1)
        if rate <= 0 or len(out) == 0:
            return out, True
        wave = np.zeros(int(np.ceil(edges[-1] * rate)) + 1, np.float32)
        cursor = 0
        for frame in _audio_frames(container, stream):
            data = frame.to_ndarray()
            if data.dtype.kind in "iu":  # integer samples (PCM): to full scale ±1
                info = np.iinfo(data.dtype)
                half = (int(info.max) - int(info.min) + 1) / 2
                data = (data.astype(np.float32) - (int(info.min) + half)) / half
            if channels > 1:  # planar (channels, n) or packed (1, n·channels)
                data = data.mean(0) if frame.format.is_planar else data.reshape(-1, channels).mean(1)
            data = data.reshape(-1)
            if frame.time is not None:
                cursor = int(round((frame.time - origin) * rate))
            lo, hi = max(cursor, 0), min(cursor + len(data), len(wave))
            if hi > lo:
                wave[lo:hi] = data[lo - cursor:hi - cursor]
            cursor += len(data)
            if cursor >= len(wave):
                break
    bounds = np.clip(np.round(edges * rate).astype(np.int64), 0, len(wave))
    count = bounds[1:] - bounds[:-1]
    filled = count > 0
    if filled.any():  # the windows tile [bounds[0], bounds[-1]): each sum runs to the next start
        square = wave[:bounds[-1]].astype(np.float64) ** 2
        out[filled] = np.sqrt(np.add.reduceat(square, bounds[:-1][filled]) / count[filled])
    return out, True


def log_mel(
    waveform: np.ndarray, sample_rate: int = 16000, n_mels: int = 64, hop_length: int = 160, n_fft: int = 400
) -> np.ndarray:
    """float32 (n_mels, 1 + len // hop_length) log-mel spectrogram in dB relative to
    full scale (power 1.0 = 0 dB, floor -100 dB), so silence and sound compare across
    clips. Defaults are 25 ms windows, 10 ms hop at 16 kHz (AudioSet/VGGish style)."""
    import librosa
    from threadpoolctl import threadpool_limits

    y = np.asarray(waveform, np.float32).reshape(-1)
    frames = 1 + len(y) // hop_length
    if len(y) < 2:
        return np.full((n_mels, frames), -100.0, np.float32)
    # one BLAS thread: the mel projection is one small matrix product, and OpenBLAS's
    # workers spin for a while after it, waiting for more, on the cores a model that runs
    # next needs (predict_video reads the sound beside the frames; benchmarks/RESULTS.md)
    with threadpool_limits(limits=1, user_api="blas"):
        mel = librosa.feature.melspectrogram(
            y=y, sr=sample_rate, n_fft=n_fft, hop_length=hop_length, n_mels=n_mels, power=2.0, center=True,
            pad_mode="constant",
        )
    db = librosa.power_to_db(mel, ref=1.0, amin=1e-10, top_db=None)
    return db[:, :frames].astype(np.float32)


def drop_audio(src: str | Path, dst: str | Path) -> Path:
    """A copy of ``src`` without its audio track: the video packets remuxed unchanged
    (no re-encoding, so the frames and their timing are the same), written atomically.
    How a clip with sound is made into the silent clip HMDB51 would give."""
    import av

    from helpers.atomic import atomic_path

    src, dst = Path(src), Path(dst)
    with atomic_path(dst) as tmp, av.open(str(src)) as inp:
        with av.open(str(tmp), "w", format=inp.format.name.split(",")[0]) as out:
            vin = inp.streams.video[0]
            vout = out.add_stream_from_template(vin)
            for packet in inp.demux(vin):
                if packet.size == 0:  # the demuxer's empty flush packet
                    continue
                packet.stream = vout
                out.mux(packet)
    return dst
