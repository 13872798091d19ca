"""A multipart upload streamed straight to a temporary file, under a size limit.

Why not FastAPI's ``UploadFile``: it reads the whole body before the route runs (no
limit), into a spooled file in the system's temporary folder. Here the body is parsed
chunk by chunk as it arrives (:mod:`python_multipart`'s push parser), only the field
``file`` is written, to a file this module names (``mkstemp`` in the service's own
folder: the client's file name never becomes a path), and the upload stops with 413 as
soon as it passes the limit. Whatever goes wrong, the partial file is deleted.
"""
from __future__ import annotations

import os
import re
import tempfile
from collections.abc import AsyncIterator
from dataclasses import dataclass
from pathlib import Path

from helpers.serving.errors import EMPTY, NO_FILE, NOT_MULTIPART, TOO_LARGE, ServiceError
from helpers.widget import VIDEO_SUFFIXES

FIELD = "file"
MAX_FIELDS_BYTES = 64 * 1024  # all other form fields together (they are ignored)
_SUFFIX = re.compile(r"^\.[A-Za-z0-9]{1,8}$")


@dataclass
class SavedUpload:
    """The file as saved: where (inside the upload folder), what the client called it,
    its declared type and its size in bytes."""

    path: Path
    name: str
    content_type: str
    size: int

    def remove(self) -> None:
        self.path.unlink(missing_ok=True)


def display_name(raw: str) -> str:
    """The client's file name reduced to a harmless label for messages (no folders)."""
    base = raw.replace("\\", "/").rsplit("/", 1)[-1]
    return re.sub(r"[^A-Za-z0-9._ -]+", "_", base)[:120] or "upload"


def _boundary(content_type: str) -> bytes:
    from python_multipart.multipart import parse_options_header

    kind, options = parse_options_header(content_type)
    if kind != b"multipart/form-data" or not options.get(b"boundary"):
        raise ServiceError(NOT_MULTIPART, f"send the video as multipart/form-data in the field {FIELD!r} "
                                          f"(got Content-Type {content_type or 'none'!r}), e.g. "
                                          f"curl -F {FIELD}=@clip.mp4")
    return options[b"boundary"]


class _Receiver:
    """The parser's callbacks: writes the ``file`` part to ``fd``, counts everything."""

    def __init__(self, fd: int, max_bytes: int) -> None:
        self.fd, self.max_bytes = fd, max_bytes
        self.size = 0
        self.other = 0
        self.found = False
        self.name = ""
        self.content_type = ""
        self._headers: dict[bytes, bytes] = {}
        self._field, self._value = b"", b""
        self._in_file = False

    def callbacks(self) -> dict:
        return {"on_part_begin": self._begin, "on_header_field": self._hfield, "on_header_value": self._hvalue,
                "on_header_end": self._hend, "on_headers_finished": self._hdone, "on_part_data": self._data,
                "on_part_end": self._end}

    def _begin(self) -> None:
        self._headers, self._field, self._value, self._in_file = {}, b"", b"", False

    def _hfield(self, data: bytes, start: int, end: int) -> None:
        self._field += data[start:end]

    def _hvalue(self, data: bytes, start: int, end: int) -> None:
        self._value += data[start:end]

    def _hend(self) -> None:
        self._headers[self._field.strip().lower()] = self._value.strip()
        self._field, self._value = b"", b""

    def _hdone(self) -> None:
        from python_multipart.multipart import parse_options_header

        _, options = parse_options_header(self._headers.get(b"content-disposition", b""))
        if options.get(b"name", b"").decode("latin-1") == FIELD and not self.found:
            self._in_file = self.found = True
            self.name = display_name(options.get(b"filename", b"upload").decode("utf-8", "replace"))
            self.content_type = self._headers.get(b"content-type", b"").decode("latin-1")[:100]

    def _data(self, data: bytes, start: int, end: int) -> None:
        n = end - start
        if not self._in_file:
            self.other += n
            if self.other > MAX_FIELDS_BYTES:
                raise ServiceError(TOO_LARGE, f"the form fields besides {FIELD!r} exceed {MAX_FIELDS_BYTES} bytes")
            return
        self.size += n
        if self.size > self.max_bytes:
            raise ServiceError(TOO_LARGE, f"{self.name} is too large: more than {self.max_bytes} bytes "
                                          f"(the limit is {self.max_bytes / 2**20:.1f} MiB)")
        view = memoryview(data)[start:end]
        while view:
            view = view[os.write(self.fd, view):]

    def _end(self) -> None:
        self._in_file = False


async def receive_upload(chunks: AsyncIterator[bytes], content_type: str, folder: Path, max_bytes: int,
                         content_length: int | None = None) -> SavedUpload:
    """Parse the multipart body ``chunks`` and save its ``file`` field in ``folder``.

    Raises :class:`ServiceError`: not multipart (400), no ``file`` field (400), an empty
    file (400), over ``max_bytes`` (413, as soon as it is known: from Content-Length or
    while streaming). The saved file is the caller's to remove (:meth:`SavedUpload.remove`);
    on any error it is already gone."""
    from python_multipart.multipart import MultipartParser

    boundary = _boundary(content_type)
    if content_length is not None and content_length > max_bytes + MAX_FIELDS_BYTES:
        raise ServiceError(TOO_LARGE, f"the upload is too large: {content_length} bytes "
                                      f"(the limit is {max_bytes / 2**20:.1f} MiB)")
    fd, name = tempfile.mkstemp(prefix="upload-", suffix=".part", dir=folder)
    path = Path(name)
    try:
        receiver = _Receiver(fd, max_bytes)
        parser = MultipartParser(boundary, receiver.callbacks())
        async for chunk in chunks:
            if chunk:
                parser.write(chunk)
        parser.finalize()
        os.close(fd)
        fd = -1
        if not receiver.found:
            raise ServiceError(NO_FILE, f"no file in the request: send the video in the multipart field {FIELD!r}")
        if receiver.size == 0:
            raise ServiceError(EMPTY, f"{receiver.name} is empty (0 bytes): upload a video file")
        suffix = Path(receiver.name).suffix.lower()  # only a video suffix: FFmpeg picks some demuxers by it
        final = path.with_suffix(suffix if suffix in VIDEO_SUFFIXES and _SUFFIX.match(suffix) else ".bin")
        os.replace(path, final)
        path = final
        return SavedUpload(path, receiver.name, receiver.content_type, receiver.size)
    except BaseException:
        if fd >= 0:
            os.close(fd)
        path.unlink(missing_ok=True)
        raise


async def discard(chunks: AsyncIterator[bytes], limit: int) -> None:
    """Read and drop up to ``limit`` more bytes of a body the service refused, so the
    client (still sending) reads the answer instead of a reset connection."""
    seen = 0
    try:
        async for chunk in chunks:
            seen += len(chunk)
            if seen > limit:
                return
    except Exception:  # noqa: BLE001 — the client went away or the body was already read
        return
