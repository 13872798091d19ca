"""Video readers: metadata from the stream headers, and only the frames asked for.

Two backends behind one interface (``VideoReader``):

* ``PyAVReader`` (PyAV, the FFmpeg bundled in its wheel) — the default for "auto",
  the faster of the two in ``benchmarks/decode.py``. Before the first
  seek it lists the video packets (demuxing only, no decoding; an AVI without
  B-frames is listed from its own index instead, faster still) to
  learn every frame's timestamp and where the keyframes are. A frame's index
  is the rank of its timestamp, so frames are identified exactly (B-frames, a first
  timestamp that is not 0, variable frame rate). For each wanted frame it seeks to the
  keyframe before it only when that keyframe lies ahead of where the decoder already
  is; otherwise it keeps decoding forward, so dense or close indices cost one pass.
  Where the decoder does not reorder frames, it is drained after the last frame
  wanted before each seek instead of fed one more packet, and resized frames are
  scaled to planar RGB and interleaved here (3x cheaper than swscale's packed
  output, same pixels). A read that spans several seeks and enough frames is split
  between two decoders (the file opened twice, the second in a thread: FFmpeg
  decodes and scales without the GIL) when a second core is idle by the load
  average and not inside a DataLoader worker (``parallel=`` forces either way).
* ``OpenCVReader`` (cv2.VideoCapture) — the fallback when PyAV cannot open a file.
  Frames are grabbed forward (cheap: no colour conversion) and OpenCV's own
  frame-accurate seek is used for long jumps.

Documented behaviour for awkward input (the same for both backends):

* indices past the last frame are clamped to the last frame; so are indices past
  the last *decodable* frame of a truncated or partly corrupt file, and of a file
  whose header over-counts its frames. A clip shorter than the frames asked for
  therefore repeats its last frame. Negative indices raise ``ValueError``.
* a file that cannot be opened or yields no frame at all (missing, zero bytes, not
  a video, no video stream, every packet corrupt, an mp4 cut before its index)
  raises ``VideoDecodeError(path, reason)``; every exception PyAV/OpenCV raises on
  the way is translated into it.
* a frame larger than ``max_pixels`` (default ``DEFAULT_MAX_PIXELS``, 4096×4096,
  so 4K passes and 8K does not) is refused at open time with ``VideoDecodeError``
  instead of allocating gigabytes in a DataLoader worker.
* decoding is bounded: ``timeout_s`` (default 60 s) per ``frames()`` call and
  ``max_decode_errors`` bad packets, after which ``VideoDecodeError`` is raised.
"""
from __future__ import annotations

import bisect
import math
import os
import sys
import threading
import time
from abc import ABC, abstractmethod
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any, ClassVar

import numpy as np

DEFAULT_MAX_PIXELS = 4096 * 4096
DEFAULT_TIMEOUT_S = 60.0
DEFAULT_MAX_DECODE_ERRORS = 32
# Packet listing reads the whole file (without decoding it); above this size the
# PyAV reader maps timestamps to indices with the frame rate instead.
INDEX_MAX_BYTES = 1 << 30
UNSEEKABLE_FORMATS = frozenset({"mpeg", "mpegts", "mpegvideo", "h264", "hevc", "m4v", "mjpeg"})
FRAME_THREADS_MIN_PIXELS = 640 * 480
# Pixels to decode (frames from keyframe to target, summed over seek groups, times the
# decoded frame size) from which a read is split between two decoders: 48 frames at
# HMDB51's 320×240. Below it, opening the second decoder and handing the GIL between two
# threads at every packet cost more than they save (a pass over a 96×72 clip is faster
# serial). Figures in benchmarks/RESULTS.md.
PARALLEL_MIN_PIXELS = 48 * 320 * 240
# Decoders that can decode at 1/2, 1/4 or 1/8 of the coded size (FFmpeg's ``lowres``):
# the DCT codecs of HMDB51's generation (its clips are MPEG-4 Part 2) and JPEG. Checked
# by decoding each at lowres; H.264, HEVC and VP9 cannot.
LOWRES_CODECS = frozenset({"mpeg4", "mpeg2video", "mpeg1video", "mjpeg", "msmpeg4", "msmpeg4v2", "wmv1", "wmv2",
                           "flv", "h263"})
BACKENDS = ("pyav", "opencv")
# Order "auto" tries; the first is the faster one by benchmarks/decode.py.
AUTO_ORDER = ("pyav", "opencv")


class VideoDecodeError(RuntimeError):
    """A video could not be opened or decoded; says which file and why."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = str(path)
        self.reason = reason
        super().__init__(f"{self.path}: {reason}")

    def __reduce__(self):  # keep both fields when sent back from a DataLoader worker
        return (type(self), (self.path, self.reason))


@dataclass(frozen=True)
class VideoMetadata:
    """What the stream headers say about a video (nothing is decoded to get it).

    ``frame_count_source`` says where ``num_frames`` came from: "container" (the
    header's frame count), "duration" (duration × fps, for mkv/webm/flv/mpg which
    keep no count) or "packets" (counted by demuxing, when neither is known).
    """

    path: str
    num_frames: int
    fps: float
    duration: float
    width: int
    height: int
    has_audio: bool
    video_codec: str
    container: str
    frame_count_source: str = "container"
    backend: str = ""

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def _check_file(path: Path) -> None:
    """Fail fast, before any library sees the file."""
    if not path.exists():
        raise VideoDecodeError(path, "no such file")
    if not path.is_file():
        raise VideoDecodeError(path, "not a regular file")
    if path.stat().st_size == 0:
        raise VideoDecodeError(path, "empty file (0 bytes)")


def _check_size(path: Path, width: int, height: int, max_pixels: int) -> None:
    if width <= 0 or height <= 0:
        raise VideoDecodeError(path, f"unknown frame size {width}x{height}")
    if width * height > max_pixels:
        raise VideoDecodeError(
            path, f"frame size {width}x{height} exceeds max_pixels={max_pixels} (pass a larger max_pixels to decode it)"
        )


def _check_fps(path: Path, fps: float) -> float:
    if not fps or not math.isfinite(fps) or fps <= 0 or fps > 1000:
        raise VideoDecodeError(path, f"unknown or implausible frame rate {fps!r}")
    return float(fps)


class GreySize(tuple):
    """``(H, W)`` of grey thumbnails: passed where a size goes, it makes the decoders
    convert each frame to its luma at that size instead of to RGB."""


class VideoReader(ABC):
    """One open video. Use as a context manager; not shared across processes."""

    backend: ClassVar[str]
    path: Path
    metadata: VideoMetadata

    def __init__(self, path: Path, *, timeout_s: float, max_decode_errors: int) -> None:
        self.path = path
        self.timeout_s = timeout_s
        self.max_decode_errors = max_decode_errors

    def frames(self, indices: Sequence[int] | np.ndarray, size: tuple[int, int] | None = None) -> np.ndarray:
        """uint8 (T, H, W, 3) RGB frames at ``indices`` (any order, repeats allowed).

        ``size=(H, W)`` resizes each frame as it is decoded. Indices past the last
        (decodable) frame are clamped to it.
        """
        return self._read(indices, size)

    def thumbnails(self, indices: Sequence[int] | np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """uint8 (T, H, W) grey thumbnails of size ``(H, W)`` at ``indices`` (as
        :meth:`frames`): the luma of each frame, scaled down as it is decoded, with no
        RGB frame made. What a preview of motion needs, for a fraction of the cost of
        full RGB frames at a large frame size."""
        return self._read(indices, GreySize(size))

    def _read(self, indices: Sequence[int] | np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
        idx = np.asarray(indices, dtype=np.int64).reshape(-1)
        if idx.size and idx.min() < 0:
            raise ValueError(f"negative frame index {int(idx.min())} for {self.path}")
        if size is not None:
            size = (GreySize if isinstance(size, GreySize) else tuple)(int(v) for v in size)
            if len(size) != 2 or size[0] <= 0 or size[1] <= 0:
                raise ValueError(f"size must be positive (H, W), got {size}")
        out_h, out_w = size or (self.metadata.height, self.metadata.width)
        if idx.size == 0:
            return np.empty((0, out_h, out_w) + (() if isinstance(size, GreySize) else (3,)), np.uint8)
        limit = self._known_num_frames()
        if limit is not None:
            idx = np.minimum(idx, max(limit - 1, 0))
        targets = sorted({int(i) for i in idx})
        got = self._decode(targets, size, time.monotonic() + self.timeout_s)
        if not got:
            raise VideoDecodeError(self.path, "no frame could be decoded")
        # Targets missing from `got` lie past the last decodable frame: clamp.
        last = max(got)
        return np.stack([got[i] if i in got else got[last] for i in idx])

    @abstractmethod
    def _decode(self, targets: list[int], size: tuple[int, int] | None, deadline: float) -> dict[int, np.ndarray]:
        """Frames for sorted unique ``targets``; a target past the end is left out."""

    def _known_num_frames(self) -> int | None:
        return self.metadata.num_frames or None

    def packet_sizes(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Bytes and key-frame flags of every video packet in presentation order, from
        the container alone (nothing decoded); None where the backend cannot list packets."""
        return None

    def _check_deadline(self, deadline: float) -> None:
        if time.monotonic() > deadline:
            raise VideoDecodeError(self.path, f"decoding took longer than {self.timeout_s:g} s")

    @abstractmethod
    def close(self) -> None: ...

    def __enter__(self) -> VideoReader:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def __repr__(self) -> str:
        return f"{type(self).__name__}({str(self.path)!r})"


# --------------------------------------------------------------------------- PyAV


def _av_errors() -> tuple[type[BaseException], ...]:
    """Everything PyAV raises for bad data (FFmpegError and the builtins it mixes in)."""
    import av

    return (av.FFmpegError, OSError, EOFError, ValueError, UnicodeError, MemoryError, OverflowError, ZeroDivisionError)


def _describe(exc: BaseException) -> str:
    """Short reason without the file name PyAV repeats in its messages."""
    text = getattr(exc, "strerror", None) or str(exc)
    return f"{type(exc).__name__}: {text}"


def _decode_failure(exc: BaseException) -> str:
    """Why a packet did not decode. FFmpeg's error codes reach Python as errno values, so
    PyAV raises PermissionError, OSError… for damaged data; naming those would send a
    user to check file permissions, so only the code is given."""
    if isinstance(exc, OSError) and getattr(exc, "errno", None) is not None:
        return f"FFmpeg decoder error code {exc.errno}"
    return _describe(exc)


def _container_name(ffmpeg_name: str, path: Path) -> str:
    """FFmpeg names demuxers by family ("mov,mp4,m4a,3gp,3g2,mj2"); keep the member
    that matches the file's suffix, else the first."""
    names = ffmpeg_name.split(",")
    suffix = path.suffix.lstrip(".").lower()
    return suffix if suffix in names else names[0]


class PyAVReader(VideoReader):
    """PyAV backend; see the module docstring for how it seeks."""

    backend = "pyav"

    def __init__(
        self,
        path: Path,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_decode_errors: int = DEFAULT_MAX_DECODE_ERRORS,
        thread_type: str | None = None,
        parallel: bool | None = None,
        codec_options: Mapping[str, str] | None = None,
    ) -> None:
        import av
        from av.video.reformatter import VideoReformatter

        super().__init__(path, timeout_s=timeout_s, max_decode_errors=max_decode_errors)
        self._errors = _av_errors()
        self._container = None
        self._helper: PyAVReader | None = None  # second decoder for parallel reads (_decode)
        self._thumbnailer: PyAVReader | None = None  # decoder at reduced size for thumbnails()
        self._codec_options = dict(codec_options or {})  # FFmpeg decoder options, e.g. lowres
        self._lowres = int(self._codec_options.get("lowres", 0))
        self._helper_args = {"max_pixels": max_pixels, "timeout_s": timeout_s, "max_decode_errors": max_decode_errors,
                             "thread_type": thread_type, "parallel": False, "codec_options": codec_options}
        self._parallel = parallel
        _check_file(path)
        try:
            self._container = av.open(str(path), timeout=(timeout_s, timeout_s), metadata_errors="ignore")
            if not self._container.streams.video:
                raise VideoDecodeError(path, "no video stream")
            self._stream = self._container.streams.video[0]
            if self._stream.codec_context is None:  # FFmpeg knows the container, not the codec
                raise VideoDecodeError(path, "unsupported codec: this FFmpeg build has no decoder for its video stream")
            self._choose_threads(thread_type)
            if self._codec_options:
                self._stream.codec_context.options = dict(self._codec_options)
            self._time_base = float(self._stream.time_base) if self._stream.time_base else 1 / 90000
            start = self._stream.start_time
            self._start_pts = int(start) if start is not None else 0
            self._index: tuple[np.ndarray, np.ndarray] | None = None  # sorted pts, keyframe ranks
            self._index_built = False
            self._bad_packets = 0
            self._reformatter = VideoReformatter()
            self._at_start = True  # nothing demuxed since open/rewind: decoding starts at frame 0
            # MPEG-PS/TS have no seek index and re-guess timestamps after a seek, so
            # frames would be misidentified: those are decoded forward from the top.
            self._seekable = self._container.format.name not in UNSEEKABLE_FORMATS
            self._exact = True  # did the last frame's timestamp match a listed packet?
            self._can_drain = False  # see _iter_frames; decided once the index is known
            self._drained = False
            self.metadata = self._read_metadata(max_pixels)
        except VideoDecodeError:
            self.close()
            raise
        except self._errors as exc:
            self.close()
            raise VideoDecodeError(path, f"cannot open: {_describe(exc)}") from exc

    def _choose_threads(self, thread_type: str | None) -> None:
        """FFmpeg decoder threading (set before the decoder opens at the first packet).

        Frame threading pays on big frames. On small ones it costs more CPU than it
        gives (the decoder copies its state between threads for every frame) and is
        no faster in wall time on a loaded machine, and a DataLoader worker per core
        wants one thread each. Small frames therefore get slice threading
        (single-threaded for most codecs); figures in ``benchmarks/RESULTS.md``."""
        cc = self._stream.codec_context
        if thread_type is None:
            thread_type = "AUTO" if cc.width * cc.height >= FRAME_THREADS_MIN_PIXELS else "SLICE"
        self._stream.thread_type = thread_type

    def _read_metadata(self, max_pixels: int) -> VideoMetadata:
        c, s = self._container, self._stream
        cc = s.codec_context
        _check_size(self.path, cc.width, cc.height, max_pixels)
        fps = _check_fps(self.path, float(s.average_rate or s.guessed_rate or s.base_rate or 0))
        stream_dur = float(s.duration * s.time_base) if s.duration and s.time_base else None
        container_dur = c.duration / 1_000_000 if c.duration else None
        # MPEG-PS/TS stream durations are guessed from the bitrate; the container's is not.
        if c.format.name in {"mpeg", "mpegts", "mpegvideo"} or stream_dur is None:
            duration = container_dur or stream_dur or 0.0
        else:
            duration = stream_dur
        if s.frames and s.frames > 0:
            num, source = int(s.frames), "container"
        elif c.format.name in UNSEEKABLE_FORMATS:
            num, source = 0, "packets"  # MPEG-PS/TS durations are guesses: count packets
        elif duration > 0:
            num, source = max(1, round(duration * fps)), "duration"
        else:
            num, source = 0, "packets"  # filled in below by counting packets
        meta = VideoMetadata(
            path=str(self.path),
            num_frames=num,
            fps=fps,
            duration=duration if duration > 0 else 0.0,
            width=int(cc.width),
            height=int(cc.height),
            has_audio=bool(c.streams.audio),
            video_codec=cc.name,
            container=_container_name(c.format.name, self.path),
            frame_count_source=source,
            backend=self.backend,
        )
        if source == "packets":
            index = self._build_index()
            if index is not None:
                count = len(index[0])
            elif duration > 0:  # packets without timestamps: fall back to the duration
                count, source = max(1, round(duration * fps)), "duration"
            else:
                raise VideoDecodeError(self.path, "cannot count frames: no timestamps and no duration")
            meta = VideoMetadata(**{**meta.to_dict(), "num_frames": count, "frame_count_source": source,
                                    "duration": duration or count / fps})
        return meta

    # -- packet index ------------------------------------------------------------------

    def _build_index(self) -> tuple[np.ndarray, np.ndarray] | None:
        """Demux (no decode) every video packet: sorted timestamps and keyframe ranks.

        None when the file is too big to list or packets carry no timestamps; the
        reader then maps timestamps with the frame rate and seeks on distance.
        """
        if self._index_built:
            return self._index
        self._index_built = True
        listed = self._index_from_entries()
        if listed is not None:
            return self._set_index(*listed)
        if self.path.stat().st_size > INDEX_MAX_BYTES:
            return None
        rows = self._demux_packets()
        if not rows:
            return None
        pts_list = [ts for ts, _size, _key in rows]
        key_pts = [ts for ts, _size, key in rows if key]
        pts = np.unique(np.asarray(pts_list, np.int64))
        keys = np.unique(np.searchsorted(pts, np.asarray(key_pts or [pts[0]], np.int64)))
        return self._set_index(pts, keys)

    def _demux_packets(self) -> list[tuple[int, int, bool]]:
        """``(timestamp, bytes, key frame)`` of every non-empty video packet in file order,
        by demuxing alone; empty when a packet carries no timestamp. A truncated or corrupt
        tail ends the listing; the reader is rewound either way."""
        rows: list[tuple[int, int, bool]] = []
        try:
            for packet in self._container.demux(self._stream):
                if not packet.size:
                    continue
                ts = packet.pts if packet.pts is not None else packet.dts
                if ts is None:
                    rows = []
                    break
                rows.append((int(ts), int(packet.size), bool(packet.is_keyframe)))
        except self._errors:
            pass  # list what was readable
        self._rewind()
        return rows

    def _set_index(self, pts: np.ndarray, keys: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        self._index = (pts, keys)
        self._rank = {int(ts): i for i, ts in enumerate(pts.tolist())}
        self._key_list = keys.tolist()  # bisect on a list: asked once per target, far cheaper than numpy here
        return self._index

    def _index_from_entries(self) -> tuple[np.ndarray, np.ndarray] | None:
        """The same listing read from the AVI's own index (idx1), without demuxing: a
        fraction of the demuxing pass, which is a noticeable share of a 16-frame read.

        Only where an index entry's timestamp is the frame's presentation index: an
        AVI (timestamps count frames) whose decoder does not reorder frames (no
        B-frames, ``reorder_depth == 0``) and whose index lists exactly the frames
        the header counts, in strictly increasing order. Anything else (B-frames,
        mp4 edit lists and composition offsets, mkv cues that list only keyframes,
        a missing or partial idx1 in a truncated file) is demuxed instead.
        """
        s = self._stream
        # getattr: older PyAV has neither reorder_depth nor index_entries
        if self._container.format.name != "avi" or getattr(s.codec_context, "reorder_depth", None) != 0:
            return None
        entries = getattr(s, "index_entries", None)
        if entries is None or not s.frames or len(entries) != s.frames:
            return None
        listed = np.array([(e.timestamp, e.is_keyframe) for e in entries], np.int64).reshape(-1, 2)
        pts = listed[:, 0].copy()
        if np.any(np.diff(pts) <= 0):
            return None
        keys = np.flatnonzero(listed[:, 1])
        return pts, keys if len(keys) else np.zeros(1, np.int64)

    def packet_sizes(self) -> tuple[np.ndarray, np.ndarray] | None:
        """``(sizes, keyframe)``: int64 bytes and bool key-frame flags of every video
        packet, sorted by timestamp (so entry ``i`` is frame ``i``), by demuxing alone:
        no packet is decoded, so listing a clip costs a fraction of decoding it. What an
        encoder spends on a frame grows with how much changed since the frames it
        predicts from, which makes the sizes a free motion preview. None when packets
        carry no timestamps. The reader is rewound, so ``frames()`` works afterwards."""
        rows = self._demux_packets()
        if not rows:
            return None
        rows.sort()
        return (np.array([r[1] for r in rows], np.int64), np.array([r[2] for r in rows], bool))

    def _known_num_frames(self) -> int | None:
        index = self._build_index()
        return len(index[0]) if index is not None else self.metadata.num_frames or None

    # -- decoding ----------------------------------------------------------------------

    def _rewind(self) -> None:
        try:
            if not self._seekable:
                raise EOFError("reopen instead of seeking")
            self._container.seek(self._start_pts, stream=self._stream, backward=True, any_frame=False)
        except self._errors:
            # Some demuxers cannot seek (well); reopening is always possible.
            import av

            thread_type, thread_count = self._stream.thread_type, self._stream.codec_context.thread_count
            self._container.close()
            self._container = av.open(str(self.path), timeout=(self.timeout_s, self.timeout_s), metadata_errors="ignore")
            self._stream = self._container.streams.video[0]
            self._stream.thread_type = thread_type
            self._stream.codec_context.thread_count = thread_count
            if self._codec_options:
                self._stream.codec_context.options = dict(self._codec_options)
        self._at_start = True

    def _frame_index(self, pts: int | None, fallback: int) -> int:
        if pts is None:
            self._exact = False
            return fallback
        if self._index is not None:
            rank = self._rank.get(pts)
            self._exact = rank is not None
            if rank is not None:
                return rank
            table = self._index[0]
            i = int(np.searchsorted(table, pts))
            # not a listed timestamp: the nearest listed one
            if i == 0:
                return 0
            if i >= len(table):
                return len(table) - 1
            return i if table[i] - pts < pts - table[i - 1] else i - 1
        return max(0, round((pts - self._start_pts) * self._time_base * self.metadata.fps))

    def _iter_frames(self, first_index: int, deadline: float, last: int | None = None) -> Iterator[tuple[int, Any]]:
        """(index, av.VideoFrame) from the current container position to the end.

        With ``last`` (the last frame wanted before the next seek) the decoder is
        drained as soon as the packet of frame ``last`` is sent, and the iterator
        ends there with ``self._drained`` set. Frame threading holds back one frame
        per extra thread; getting it out by sending more packets would decode frames
        nobody asked for (a whole frame per seek). Only for decoders that do not
        reorder frames (``_can_drain``), where packet order is frame order.
        """
        counter = first_index
        demuxer = self._container.demux(self._stream)
        self._drained = False
        while True:
            self._check_deadline(deadline)
            try:
                packet = next(demuxer)
            except StopIteration:
                return
            except self._errors:
                return  # unreadable tail (truncated/corrupt): treat as the end
            # set before yielding: the caller may stop pulling at `last`
            self._drained = drain = last is not None and self._packet_rank(packet) >= last
            decoded = self._decode_packet(packet)
            if drain:
                decoded += self._decode_packet(None)
            for frame in decoded:
                ts = frame.pts if frame.pts is not None else getattr(frame, "dts", None)
                index = self._frame_index(ts, counter)
                counter = index + 1
                yield index, frame
            if drain:
                return  # the decoder is flushed: only a seek (which resets it) may follow

    def _decode_packet(self, packet: Any) -> list[Any]:
        """Frames out of one packet (None: drain the decoder); a corrupt packet
        gives none, and too many of them raise."""
        try:
            return list(packet.decode() if packet is not None else self._stream.codec_context.decode(None))
        except self._errors as exc:
            self._bad_packets += 1
            if self._bad_packets > self.max_decode_errors:
                raise VideoDecodeError(self.path, f"too many corrupt packets: {self._bad_packets} could not be "
                                       f"decoded ({_decode_failure(exc)}); the file is damaged: download or "
                                       "re-encode it again") from exc
            return []

    def _packet_rank(self, packet: Any) -> int:
        """Frame index of a packet's timestamp in the listing, -1 when not listed."""
        ts = packet.pts if packet.pts is not None else packet.dts
        return -1 if ts is None else self._rank.get(ts, -1)

    def _group_last(self, targets: list[int], first: int) -> int | None:
        """The last of ``targets[first:]`` reached without a seek from ``targets[first]``
        (None when the decoder cannot be drained: then it is fed to the end)."""
        if not self._can_drain:
            return None
        j = first
        while j + 1 < len(targets) and not self._should_seek(targets[j], targets[j + 1]):
            j += 1
        return targets[j]

    def _keyframe_before(self, target: int) -> int | None:
        if self._index is None:
            return None
        keys = self._key_list
        return keys[max(bisect.bisect_right(keys, target) - 1, 0)]

    def _seek(self, target: int, attempt: int) -> int:
        """Seek so that decoding starts at or before ``target``; returns the index the
        decoder is expected to start from (a keyframe). Later attempts go further back."""
        if not self._seekable:
            self._rewind()
            return 0
        if self._index is not None:
            keys = self._index[1]
            i = int(np.searchsorted(keys, target, side="right")) - 1 - attempt
            if i <= 0:
                self._rewind()
                return 0
            key = int(keys[i])
            ts = int(self._index[0][key])
        else:
            key = max(0, target - attempt * max(int(self.metadata.fps) * 2, 16))
            if key == 0 or attempt >= 3:
                self._rewind()
                return 0
            ts = self._start_pts + int(round(key / self.metadata.fps / self._time_base))
        try:
            self._container.seek(ts, stream=self._stream, backward=True, any_frame=False)
        except self._errors:
            self._rewind()  # this demuxer cannot seek here: decode from the top instead
            return 0
        return key

    def _should_seek(self, pos: int, target: int) -> bool:
        """Seek only when a keyframe lies between the decoder and the target."""
        if not self._seekable:
            return False
        key = self._keyframe_before(target)
        if key is None:  # no index: seek on distance
            return target - pos > max(int(self.metadata.fps) * 2, 16)
        return key > pos + 1

    def _convert(self, frame: Any, size: tuple[int, int] | None) -> np.ndarray:
        """RGB (resized) array. One reformatter per reader keeps FFmpeg's scaler
        context between frames (``frame.to_ndarray`` builds a new one each call,
        which costs more than decoding a small frame).

        A resize goes to planar RGB (gbrp) and is interleaved here: swscale's
        scaled path to packed rgb24 is about 3x slower for the same pixels
        (identical output; ``tests/test_video_reader.py`` checks it)."""
        threads = 1 if frame.width * frame.height < 640 * 480 else None  # scaler threads only pay on big frames
        if isinstance(size, GreySize):  # luma only, scaled by FFmpeg (rows padded to line_size)
            out = self._reformatter.reformat(frame, width=size[1], height=size[0], format="gray",
                                             interpolation="AREA", threads=threads)
            return _plane(out, out.planes[0]).copy()
        if size is None or size == (frame.height, frame.width):
            return self._reformatter.reformat(frame, format="rgb24", threads=threads).to_ndarray()
        out = self._reformatter.reformat(
            frame, width=size[1], height=size[0], format="gbrp", interpolation="AREA", threads=threads
        )
        return _interleave_gbrp(out)

    def _start_at(
        self, target: int, deadline: float, last: int | None = None
    ) -> tuple[Iterator[tuple[int, Any]], tuple[int, Any] | None]:
        """A frame iterator positioned at or before ``target``, and its first frame;
        ``last`` as in ``_iter_frames``.

        Starts from the top of the file when the container is still there and no
        keyframe lies ahead; otherwise seeks to the keyframe before the target and,
        if the demuxer lands after the target (imprecise seeking in some formats),
        goes one keyframe further back, up to the start of the file."""
        if self._at_start and not self._should_seek(-1, target):
            self._at_start = False
            frames = self._iter_frames(0, deadline, last)
            return frames, next(frames, None)
        attempt = 0
        while True:
            key = self._seek(target, attempt)
            self._at_start = False
            frames = self._iter_frames(key, deadline, last)
            first = next(frames, None)
            if key > 0 and first is not None and not self._exact and self._index is not None:
                # timestamps after this seek do not match the listing: stop seeking
                self._seekable = False
                continue
            if key == 0 or (first is not None and first[0] <= target):
                return frames, first
            attempt += 1

    def _decode(self, targets: list[int], size: tuple[int, int] | None, deadline: float) -> dict[int, np.ndarray]:
        """Serially, or split in two at a seek: this decoder takes the first part
        while a second one, on the same file in a thread, takes the rest (FFmpeg
        decodes and scales without Python's GIL)."""
        self._build_index()
        self._can_drain = self._index is not None and getattr(self._stream.codec_context, "reorder_depth", 1) == 0
        split = self._parallel_split(targets)
        if not split:
            return self._decode_serial(targets, size, deadline)
        result: dict[str, Any] = {}

        def run_helper() -> None:
            try:  # opened in the thread too: the calling thread does not wait for it
                helper = self._get_helper()
            except VideoDecodeError:
                return  # could not open it a second time: the calling thread reads the rest
            try:
                result["got"] = helper._decode_serial(targets[split:], size, deadline)
            except BaseException as exc:  # noqa: BLE001 - re-raised in the calling thread
                result["error"] = exc

        thread = threading.Thread(target=run_helper, name="pyav-reader-helper", daemon=True)
        thread.start()
        try:
            got = self._decode_serial(targets[:split], size, deadline)
        finally:
            thread.join()  # never leave the helper decoding on its own
        if "error" in result:
            raise result["error"]
        if targets[split - 1] not in got:
            # the first part ran past the last decodable frame: as in a serial read,
            # every later target is clamped to it
            return got
        if "got" not in result:
            result["got"] = self._decode_serial(targets[split:], size, deadline)
        got.update(result["got"])
        return got

    def _parallel_split(self, targets: list[int]) -> int:
        """Where to split ``targets`` between two decoders, 0 for not at all.

        Only when a core is idle (``_spare_core``), outside DataLoader workers
        (there the workers already use every core), on seekable files with a packet
        listing, and when the frames to decode (from each group's keyframe to its
        last target) are enough to pay for opening a second decoder. The split
        falls between two seek groups, where the two parts cost most nearly the same."""
        parallel = self._parallel
        if parallel is None:
            parallel = not _in_dataloader_worker() and _spare_core()
        if not parallel or not self._seekable or self._index is None or len(targets) < 2:
            return 0
        starts: list[int] = []  # position of each seek group's first target
        costs: list[int] = []  # frames each group decodes
        for pos, target in enumerate(targets):
            if pos == 0 or self._should_seek(targets[pos - 1], target):
                starts.append(pos)
                costs.append(target - (self._keyframe_before(target) or 0) + 1)
            else:
                costs[-1] += target - targets[pos - 1]
        total = sum(costs)
        scale = 1 << self._lowres
        pixels = -(-self.metadata.width // scale) * -(-self.metadata.height // scale)
        if len(starts) < 2 or total * pixels < PARALLEL_MIN_PIXELS:
            return 0
        before = np.cumsum(costs)[:-1]  # cost of the first part when split before group i + 1
        best = int(np.argmin(np.abs(total - 2 * before)))
        return starts[best + 1]

    def _get_helper(self) -> PyAVReader:
        """The second decoder: the same file opened again, sharing the listing."""
        if self._helper is None:
            self._helper = self._sibling(**self._helper_args)
        self._helper._can_drain = self._can_drain
        return self._helper

    def _sibling(self, **args: Any) -> PyAVReader:
        """The same file opened again with ``args``, sharing this reader's packet listing."""
        self._build_index()
        sibling = PyAVReader(self.path, **args)
        sibling._index, sibling._index_built = self._index, True
        if self._index is not None:
            sibling._rank, sibling._key_list = self._rank, self._key_list
        sibling._can_drain = self._can_drain
        return sibling

    def thumbnails(self, indices: Sequence[int] | np.ndarray, size: tuple[int, int]) -> np.ndarray:
        """As :meth:`VideoReader.thumbnails`; where the codec can decode at reduced size
        (:meth:`_thumbnail_options`), by a second decoder that does (this one keeps decoding
        full frames for :meth:`frames`). Such thumbnails differ from fully decoded ones by
        under one grey level on average (``tests/test_video_reader.py``); figures in
        ``benchmarks/RESULTS.md``."""
        options = self._thumbnail_options(size)
        if not options:
            return super().thumbnails(indices, size)
        if self._thumbnailer is None or self._thumbnailer._codec_options != options:
            if self._thumbnailer is not None:
                self._thumbnailer.close()
            self._thumbnailer = self._sibling(**{**self._helper_args, "parallel": self._parallel,
                                                 "codec_options": options})
        return VideoReader.thumbnails(self._thumbnailer, indices, size)

    def _thumbnail_options(self, size: tuple[int, int]) -> dict[str, str]:
        """FFmpeg decoder options for thumbnails of ``size`` (H, W): ``lowres`` (codecs of
        :data:`LOWRES_CODECS`), the largest of 1…3 whose decoded frame (each side divided
        by 2**lowres, rounded up) still covers ``size``. Empty for other codecs, or for a
        decoder that was opened with options of its own."""
        if self._codec_options or self._stream.codec_context.name not in LOWRES_CODECS:
            return {}
        height, width = (int(v) for v in size)
        fits = [f for f in (1, 2, 3)
                if -(-self.metadata.width >> f) >= width and -(-self.metadata.height >> f) >= height]
        return {"lowres": str(max(fits))} if fits else {}

    def _decode_serial(
        self, targets: list[int], size: tuple[int, int] | None, deadline: float
    ) -> dict[int, np.ndarray]:
        got: dict[int, np.ndarray] = {}
        frames: Iterator[tuple[int, Any]] | None = None
        current: tuple[int, Any] | None = None  # (index, frame) last produced by `frames`
        last: int | None = None  # where `frames` drains and ends (None: it runs to the end of the file)
        try:
            for pos, target in enumerate(targets):
                if (frames is None or current is None or current[0] >= target or (last is not None and target > last)
                        or self._should_seek(current[0], target)):
                    last = self._group_last(targets, pos)
                    frames, current = self._start_at(target, deadline, last)
                    if current is None:
                        break  # nothing decodable from here on
                ended = False
                while current[0] < target:
                    following = next(frames, None)
                    if following is None and self._drained:
                        # drained before the target: timestamps are not as listed; feed to the end from now on
                        self._can_drain, last = False, None
                        frames, following = self._start_at(target, deadline)
                    if following is None:
                        ended = True
                        break
                    current = following
                if ended:
                    # past the last decodable frame: keep it under its own index,
                    # the caller clamps this and every later target to it
                    got[current[0]] = self._convert(current[1], size)
                    break
                # exact frame, or the next one when the target's timestamp is missing
                got[target] = self._convert(current[1], size)
        except VideoDecodeError:
            raise
        except self._errors as exc:
            if not got:
                raise VideoDecodeError(self.path, f"decoding failed: {_describe(exc)}") from exc
        return got

    def close(self) -> None:
        for sibling in (self._helper, self._thumbnailer):
            if sibling is not None:
                sibling.close()
        self._helper = self._thumbnailer = None
        if self._container is not None:
            self._container.close()
            self._container = None


def _spare_core() -> bool:
    """Is a core idle (1-min load average at least half a core below the core count,
    as ``make -l`` judges it)? Two decoders in two threads hand Python's GIL back and
    forth at every packet; on an idle core that costs microseconds, but on a busy
    machine each hand-off waits for the scheduler and the split read is slower than
    one decoder. On idle cores the split shares the decoding evenly (figures in
    ``benchmarks/RESULTS.md``)."""
    cores = os.cpu_count() or 1
    try:
        load = os.getloadavg()[0]
    except (AttributeError, OSError):  # no load average (Windows): judge by cores alone
        load = 0.0
    return cores > 1 and load <= cores - 0.5


def _in_dataloader_worker() -> bool:
    """True inside a torch DataLoader worker (without importing torch)."""
    data = sys.modules.get("torch.utils.data")
    return data is not None and data.get_worker_info() is not None


def _interleave_gbrp(frame: Any) -> np.ndarray:
    """(H, W, 3) RGB array from a planar gbrp ``av.VideoFrame`` (planes G, B, R,
    rows padded to ``line_size``)."""
    out = np.empty((frame.height, frame.width, 3), np.uint8)
    for channel, plane in zip((1, 2, 0), frame.planes):
        out[..., channel] = _plane(frame, plane)
    return out


def _plane(frame: Any, plane: Any) -> np.ndarray:
    """(H, W) uint8 view of one 8-bit plane of an ``av.VideoFrame`` (rows padded to
    ``line_size``)."""
    h = frame.height
    return np.frombuffer(plane, np.uint8, count=h * plane.line_size).reshape(h, plane.line_size)[:, :frame.width]


# ------------------------------------------------------------------------- OpenCV


class OpenCVReader(VideoReader):
    """OpenCV backend: grab forward, OpenCV's own seek for long jumps."""

    backend = "opencv"
    seek_gap = 48  # frames: jump with CAP_PROP_POS_FRAMES when the next target is further

    def __init__(
        self,
        path: Path,
        *,
        max_pixels: int = DEFAULT_MAX_PIXELS,
        timeout_s: float = DEFAULT_TIMEOUT_S,
        max_decode_errors: int = DEFAULT_MAX_DECODE_ERRORS,
    ) -> None:
        import cv2

        super().__init__(path, timeout_s=timeout_s, max_decode_errors=max_decode_errors)
        self._cv2 = cv2
        self._cap = None
        _check_file(path)
        self._open_capture()
        cap = self._cap
        if not cap.isOpened():
            self.close()
            raise VideoDecodeError(path, "OpenCV cannot open it (not a video, or an unsupported/corrupt file)")
        try:
            width = int(cap.get(cv2.CAP_PROP_FRAME_WIDTH))
            height = int(cap.get(cv2.CAP_PROP_FRAME_HEIGHT))
            _check_size(path, width, height, max_pixels)
            fps = _check_fps(path, cap.get(cv2.CAP_PROP_FPS))
            count = int(cap.get(cv2.CAP_PROP_FRAME_COUNT))
            if count <= 0:
                raise VideoDecodeError(path, "OpenCV reports no frames")
            fourcc = int(cap.get(cv2.CAP_PROP_FOURCC))
            codec = fourcc.to_bytes(4, "little").decode("ascii", "replace").strip("\x00 ").lower()
        except VideoDecodeError:
            self.close()
            raise
        self.metadata = VideoMetadata(
            path=str(path),
            num_frames=count,
            fps=fps,
            duration=count / fps,
            width=width,
            height=height,
            has_audio=_probe_has_audio(path),
            video_codec=codec,
            container=path.suffix.lstrip(".").lower(),
            frame_count_source="container",
            backend=self.backend,
        )
        self._end: int | None = None  # first index that failed to grab (end of stream)

    def _known_num_frames(self) -> int | None:
        # Not the header's count: it can be short (MPEG-PS guesses it from the bitrate)
        # and clamping to it would hide frames that exist; past the real end a grab
        # fails and the last decodable frame is found instead.
        return self._end

    def _convert(self, bgr: np.ndarray, size: tuple[int, int] | None) -> np.ndarray:
        cv2 = self._cv2
        if isinstance(size, GreySize):
            return cv2.resize(cv2.cvtColor(bgr, cv2.COLOR_BGR2GRAY), (size[1], size[0]), interpolation=cv2.INTER_AREA)
        if size is not None and (bgr.shape[0], bgr.shape[1]) != size:
            bgr = cv2.resize(bgr, (size[1], size[0]), interpolation=cv2.INTER_AREA)
        return cv2.cvtColor(bgr, cv2.COLOR_BGR2RGB)

    def _open_capture(self) -> None:
        cv2 = self._cv2
        if self._cap is not None:
            self._cap.release()
        ms = int(self.timeout_s * 1000)
        self._cap = cv2.VideoCapture(
            str(self.path), cv2.CAP_FFMPEG, [cv2.CAP_PROP_OPEN_TIMEOUT_MSEC, ms, cv2.CAP_PROP_READ_TIMEOUT_MSEC, ms]
        )
        self._next = 0  # index of the frame the next grab() returns

    def _decode(self, targets: list[int], size: tuple[int, int] | None, deadline: float) -> dict[int, np.ndarray]:
        cv2 = self._cv2
        got: dict[int, np.ndarray] = {}
        try:
            for target in targets:
                if target < self._next or target - self._next > self.seek_gap:
                    if target <= self.seek_gap:
                        self._open_capture()  # near the top: reopening is cheaper and surer than seeking
                    else:
                        self._cap.set(cv2.CAP_PROP_POS_FRAMES, target)
                        self._next = target
                ok = True
                while ok and self._next <= target:
                    self._check_deadline(deadline)
                    ok = self._cap.grab()
                    self._next += ok
                if ok:
                    ok, bgr = self._cap.retrieve()
                if not ok:
                    # past the last decodable frame (or a seek OpenCV could not do)
                    self._end = self._next if self._end is None else min(self._end, self._next)
                    tail = self._read_last_decodable(size, deadline)
                    if tail is not None:
                        got[tail[0]] = tail[1]
                    break
                got[target] = self._convert(bgr, size)
        except cv2.error as exc:
            if not got:
                raise VideoDecodeError(self.path, f"OpenCV decoding failed: {exc}") from exc
        return got

    def _read_last_decodable(self, size: tuple[int, int] | None, deadline: float) -> tuple[int, np.ndarray] | None:
        """Decode from the top to find the true last frame: only when a grab failed,
        i.e. a truncated/corrupt file or a header that over-counts its frames."""
        self._open_capture()
        frame, count = None, 0
        while count < (self._end or 0):
            self._check_deadline(deadline)
            ok, bgr = self._cap.read()
            if not ok:
                break
            frame, count = bgr, count + 1
        self._end = self._next = count
        return None if frame is None else (count - 1, self._convert(frame, size))

    def close(self) -> None:
        if self._cap is not None:
            self._cap.release()
            self._cap = None


def _probe_has_audio(path: Path) -> bool:
    """OpenCV cannot tell; ask PyAV's header reader, and say False if it cannot."""
    try:
        import av

        with av.open(str(path), metadata_errors="ignore") as container:
            return bool(container.streams.audio)
    except Exception:  # noqa: BLE001 - any failure here only means "unknown" → False
        return False


# --------------------------------------------------------------------------- entry


def open_video(
    path: str | Path,
    backend: str = "auto",
    *,
    max_pixels: int = DEFAULT_MAX_PIXELS,
    timeout_s: float = DEFAULT_TIMEOUT_S,
    max_decode_errors: int = DEFAULT_MAX_DECODE_ERRORS,
) -> VideoReader:
    """Open ``path`` with ``backend`` ("pyav", "opencv" or "auto": PyAV, then OpenCV
    when PyAV cannot open the file). Raises ``VideoDecodeError`` on bad input."""
    path = Path(path)
    if backend not in (*BACKENDS, "auto"):
        raise ValueError(f"backend must be one of {(*BACKENDS, 'auto')}, got {backend!r}")
    kwargs = dict(max_pixels=max_pixels, timeout_s=timeout_s, max_decode_errors=max_decode_errors)
    order = AUTO_ORDER if backend == "auto" else (backend,)
    first_error: VideoDecodeError | None = None
    for name in order:
        try:
            return _READERS[name](path, **kwargs)
        except VideoDecodeError as exc:
            if first_error is None:
                first_error = exc
            elif backend == "auto":
                first_error = VideoDecodeError(path, f"{first_error.reason}; {name}: {exc.reason}")
            if exc.reason in {"no such file", "not a regular file", "empty file (0 bytes)"} or "max_pixels" in exc.reason:
                break  # no other backend will do better
    assert first_error is not None
    raise first_error


_READERS: dict[str, type[VideoReader]] = {"pyav": PyAVReader, "opencv": OpenCVReader}
