"""What the service tells a client whose request it cannot answer: an HTTP status, a
short code and a sentence, as JSON ``{"error": code, "message": sentence}``.

Only files that start like a video container are decoded (:func:`container_of`: AVI,
MP4/MOV/3GP, Matroska/WebM, MPEG-PS/TS, FLV, ASF/WMV, Ogg, Y4M, IVF, RealMedia and raw
MPEG/H.264 streams); anything else is "not a video" without a decoder seeing it.

A video that fails to decode is told apart by looking at the file itself, not only at
the decoder's words (which say "invalid data" for a text file and for a cut download
alike): a known container signature means a video that is damaged or cut short (422;
"truncated" when its own size fields reach past the end of the file or its index is
missing), no signature means not a video at all (415), and a container whose codec has
no decoder here is an unsupported codec (415).
"""
from __future__ import annotations

import struct
from pathlib import Path

# status, code for each kind of refusal (the README and the tests list the same)
EMPTY = (400, "empty")
NO_FILE = (400, "no_file")
NOT_MULTIPART = (400, "not_multipart")
TOO_LARGE = (413, "too_large")
NOT_A_VIDEO = (415, "not_a_video")
UNSUPPORTED_CODEC = (415, "unsupported_codec")
TRUNCATED = (422, "truncated")
DAMAGED = (422, "damaged")
INVALID = (422, "invalid_parameter")
SAMPLER_UNAVAILABLE = (409, "sampler_unavailable")
BUSY = (503, "busy")
INTERNAL = (500, "internal_error")

_ASF = bytes.fromhex("3026b2758e66cf11a6d900aa0062ce6c")
_MP4_BOXES = {b"ftyp", b"moov", b"mdat", b"free", b"wide", b"skip", b"pnot", b"uuid"}


class ServiceError(Exception):
    """A refusal: ``status`` (HTTP), ``code`` (machine-readable) and ``message`` (for people)."""

    def __init__(self, kind: tuple[int, str], message: str, headers: dict[str, str] | None = None) -> None:
        self.status, self.code = kind
        self.message = message
        self.headers = headers or {}
        super().__init__(message)

    def __reduce__(self):  # sent back whole from a worker process
        return (type(self), ((self.status, self.code), self.message, self.headers))

    def body(self) -> dict[str, str]:
        return {"error": self.code, "message": self.message}


def container_of(head: bytes) -> str | None:
    """The container a file's first bytes announce (``"avi"``, ``"mp4"``, ``"matroska"``,
    ``"mpeg-ps"``, ``"mpeg-ts"``, ``"flv"``, ``"asf"``, ``"ogg"``), or None."""
    if head[:4] == b"RIFF" and head[8:12] == b"AVI ":
        return "avi"
    if len(head) >= 8 and head[4:8] in _MP4_BOXES:
        return "mp4"
    if head[:4] == b"\x1a\x45\xdf\xa3":
        return "matroska"
    if head[:4] == b"\x00\x00\x01\xba":
        return "mpeg-ps"
    if len(head) > 188 and head[0] == 0x47 and head[188] == 0x47:
        return "mpeg-ts"
    if head[:3] == b"FLV":
        return "flv"
    if head[:16] == _ASF:
        return "asf"
    if head[:4] == b"OggS":
        return "ogg"
    if head[:9] == b"YUV4MPEG2":
        return "y4m"
    if head[:4] == b"DKIF":
        return "ivf"
    if head[:4] == b".RMF":
        return "realmedia"
    if head[:4] in (b"\x00\x00\x01\xb3", b"\x00\x00\x00\x01") or head[:3] == b"\x00\x00\x01":
        return "elementary stream"
    return None


def check_container(path: str | Path, name: str) -> None:
    """Refuse (415) a file whose first bytes announce no video container, before any
    decoder sees it: FFmpeg would otherwise render a text file as ANSI art (its ``tty``
    demuxer) or read a picture as a one-frame video."""
    with open(path, "rb") as f:
        head = f.read(256)
    if head and container_of(head) is None:
        raise ServiceError(NOT_A_VIDEO, f"{name} is not a video (no known video container signature); "
                                        "upload a file such as .mp4, .avi, .mkv or .webm")


def _mp4_truncated(path: Path, size: int) -> bool:
    """A top-level box reaching past the end, or no ``moov`` (the index) at all."""
    seen: set[bytes] = set()
    with open(path, "rb") as f:
        offset = 0
        while offset + 8 <= size:
            f.seek(offset)
            box_size, kind = struct.unpack(">I4s", f.read(8))
            if box_size == 1:
                extended = f.read(8)
                if len(extended) < 8:
                    return True
                box_size = struct.unpack(">Q", extended)[0]
            elif box_size == 0:  # runs to the end of the file
                box_size = size - offset
            if box_size < 8:
                return False  # not a box structure this check understands
            if offset + box_size > size:
                return True
            seen.add(kind)
            offset += box_size
    return b"moov" not in seen


def _avi_truncated(head: bytes, size: int) -> bool:
    riff_size = struct.unpack("<I", head[4:8])[0]
    return riff_size + 8 > size


def video_failure(path: str | Path, reason: str, name: str) -> ServiceError:
    """The refusal for an upload (saved at ``path``, called ``name`` by the client) that
    the decoder rejected with ``reason``."""
    path = Path(path)
    size = path.stat().st_size if path.is_file() else 0
    if size == 0:
        return ServiceError(EMPTY, f"{name} is empty (0 bytes): upload a video file")
    if "unsupported codec" in reason:
        return ServiceError(UNSUPPORTED_CODEC, f"{name}: unsupported codec: the container opens but no decoder "
                                               "here reads its video stream; re-encode it (e.g. H.264 in .mp4)")
    with open(path, "rb") as f:
        head = f.read(256)
    container = container_of(head)
    if container is None:
        return ServiceError(NOT_A_VIDEO, f"{name} is not a video (no known video container signature); "
                                         "upload a file such as .mp4, .avi, .mkv or .webm")
    truncated = (container == "mp4" and _mp4_truncated(path, size)) or \
                (container == "avi" and _avi_truncated(head, size))
    if truncated:
        return ServiceError(TRUNCATED, f"{name} is truncated: its {container} structure announces more data "
                                       f"than the {size} bytes received (an interrupted upload or download?)")
    return ServiceError(DAMAGED, f"{name} is a damaged or truncated {container} video: {short(reason)}")


def short(reason: str, limit: int = 240) -> str:
    """A decoder's reason without temporary paths, at most ``limit`` characters."""
    return str(reason)[:limit]
