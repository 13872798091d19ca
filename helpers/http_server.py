"""Serve a folder over HTTP on 127.0.0.1, with byte ranges, for offline downloads.

Why: notebook 01 and the tests exercise the real download path (`helpers.download`)
against archives the project generates, so they need an HTTP server that behaves
like the archive hosts do: ``Content-Length``, ``Accept-Ranges: bytes``, HEAD, and
single ``Range`` requests (206 / 416) so that interrupted downloads can resume.
The standard library's ``SimpleHTTPRequestHandler`` ignores ``Range``; this module
adds it and keeps the server quiet (no request lines on stderr in notebooks).

    with serve_directory(folder) as base_url:       # "http://127.0.0.1:PORT/"
        download(base_url + "hmdb51_org.rar", dest)

    server = FileServer(folder).start()             # survives across notebook cells
    server.url, server.requests                     # ... later: server.stop()

Fault injection (for tests) is not built in: subclass :class:`RangeRequestHandler`,
override :meth:`RangeRequestHandler.copyfile`, and pass it as ``handler_class``.
"""
from __future__ import annotations

import argparse
import functools
import http.server
import logging
import os
import re
import shutil
import sys
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from http import HTTPStatus
from pathlib import Path
from typing import BinaryIO

logger = logging.getLogger(__name__)

_COPY_CHUNK = 64 * 1024
_RANGE_RE = re.compile(r"^\s*bytes\s*=\s*(\d*)\s*-\s*(\d*)\s*$", re.IGNORECASE)


class UnsatisfiableRange(ValueError):
    """A syntactically valid ``Range`` that selects no byte of the file (→ 416)."""


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Parse a single-range ``Range`` header into inclusive ``(start, end)`` offsets.

    Returns ``None`` when the whole file should be sent (no header, another unit,
    several ranges or bad syntax: RFC 9110 lets a server ignore such a header).
    Raises :class:`UnsatisfiableRange` when the range starts past the end of the file.
    """
    if not header:
        return None
    match = _RANGE_RE.match(header)
    if match is None:  # multi-range, other units, garbage: serve the whole file
        return None
    first, last = match.groups()
    if not first and not last:
        return None
    if not first:  # suffix range "bytes=-N": the last N bytes
        length = int(last)
        if length == 0:
            raise UnsatisfiableRange(header)
        return max(size - length, 0), size - 1
    start = int(first)
    end = int(last) if last else size - 1
    if last and end < start:
        return None  # invalid range spec: ignore it
    if start >= size:
        raise UnsatisfiableRange(header)
    return start, min(end, size - 1)


@dataclass(frozen=True)
class RequestRecord:
    """One request the server saw (tests count these; nothing is printed)."""

    method: str
    path: str
    range: str | None


class RangeRequestHandler(http.server.SimpleHTTPRequestHandler):
    """``SimpleHTTPRequestHandler`` plus single byte ranges and quiet logging.

    Directories keep the standard listing; files get ``Accept-Ranges: bytes``,
    an exact ``Content-Length`` and, for a ``Range`` request, 206 with
    ``Content-Range`` (416 with ``Content-Range: bytes */SIZE`` when unsatisfiable).
    """

    server: _QuietThreadingHTTPServer
    _body_length: int | None = None  # bytes copyfile() must send; None = all

    def do_GET(self) -> None:  # noqa: N802 (http.server naming)
        self.server.record(self)
        super().do_GET()

    def do_HEAD(self) -> None:  # noqa: N802
        self.server.record(self)
        super().do_HEAD()

    def send_head(self) -> BinaryIO | None:
        self._body_length = None
        path = self.translate_path(self.path)
        if os.path.isdir(path) or path.endswith("/"):
            return super().send_head()  # redirect / index.html / listing / 404
        try:
            f = open(path, "rb")  # noqa: SIM115 (closed by do_GET/do_HEAD)
        except OSError:
            self.send_error(HTTPStatus.NOT_FOUND, "File not found")
            return None
        try:
            stat = os.fstat(f.fileno())
            size = stat.st_size
            try:
                byte_range = parse_range(self.headers.get("Range"), size)
            except UnsatisfiableRange:
                f.close()
                self.send_response(HTTPStatus.REQUESTED_RANGE_NOT_SATISFIABLE)
                self.send_header("Content-Range", f"bytes */{size}")
                self.send_header("Accept-Ranges", "bytes")
                self.send_header("Content-Length", "0")
                self.end_headers()
                return None
            if byte_range is None:
                start, length = 0, size
                self.send_response(HTTPStatus.OK)
            else:
                start, end = byte_range
                length = end - start + 1
                self.send_response(HTTPStatus.PARTIAL_CONTENT)
                self.send_header("Content-Range", f"bytes {start}-{end}/{size}")
            f.seek(start)
            self.send_header("Content-Type", self.guess_type(path))
            self.send_header("Content-Length", str(length))
            self.send_header("Accept-Ranges", "bytes")
            self.send_header("Last-Modified", self.date_time_string(int(stat.st_mtime)))
            self.end_headers()
            self._body_length = length
            return f
        except BaseException:
            f.close()
            raise

    def copyfile(self, source: BinaryIO, outputfile: BinaryIO) -> None:  # type: ignore[override]
        """Send the body: exactly the selected range (or all of a listing)."""
        if self._body_length is None:
            shutil.copyfileobj(source, outputfile, _COPY_CHUNK)
            return
        remaining = self._body_length
        while remaining > 0:
            chunk = source.read(min(_COPY_CHUNK, remaining))
            if not chunk:
                break
            outputfile.write(chunk)
            remaining -= len(chunk)

    def log_message(self, format: str, *args: object) -> None:  # noqa: A002
        logger.debug("%s - %s", self.address_string(), format % args)


class _QuietThreadingHTTPServer(http.server.ThreadingHTTPServer):
    """Threaded server that records requests and keeps client disconnects off stderr."""

    daemon_threads = True

    def __init__(self, *args: object, **kwargs: object) -> None:
        super().__init__(*args, **kwargs)  # type: ignore[arg-type]
        self.requests: list[RequestRecord] = []
        self._requests_lock = threading.Lock()

    def record(self, handler: http.server.BaseHTTPRequestHandler) -> None:
        entry = RequestRecord(handler.command, handler.path, handler.headers.get("Range"))
        with self._requests_lock:
            self.requests.append(entry)

    def handle_error(self, request: object, client_address: object) -> None:
        # A client that hangs up mid-body (a cancelled or resumed download) is normal.
        logger.debug("error while serving %s", client_address, exc_info=True)


class FileServer:
    """A background HTTP server for one folder; ``start()`` / ``stop()`` or ``with``.

    Notebooks keep one running across cells; ``serve_directory`` wraps it for code
    that needs it for one block. ``requests`` lists what was asked (method, path,
    Range header), which the tests use to count requests.
    """

    def __init__(
        self,
        root: str | os.PathLike[str],
        host: str = "127.0.0.1",
        port: int = 0,
        *,
        handler_class: type[RangeRequestHandler] = RangeRequestHandler,
    ) -> None:
        self.root = Path(root).resolve()
        if not self.root.is_dir():
            raise NotADirectoryError(f"cannot serve {self.root}: not an existing folder")
        self.host = host
        self.port = port
        self.handler_class = handler_class
        self._server: _QuietThreadingHTTPServer | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> FileServer:
        """Bind and serve in a daemon thread; returns ``self`` (idempotent)."""
        if self._server is not None:
            return self
        handler = functools.partial(self.handler_class, directory=str(self.root))
        self._server = _QuietThreadingHTTPServer((self.host, self.port), handler)
        self.port = self._server.server_address[1]
        self._thread = threading.Thread(
            target=self._server.serve_forever,
            kwargs={"poll_interval": 0.05},
            name=f"FileServer:{self.port}",
            daemon=True,
        )
        self._thread.start()
        logger.info("serving %s at %s", self.root, self.url)
        return self

    def stop(self) -> None:
        """Stop serving and free the port (idempotent)."""
        server, thread = self._server, self._thread
        self._server = self._thread = None
        if server is None:
            return
        server.shutdown()
        server.server_close()
        if thread is not None:
            thread.join(timeout=5)

    @property
    def running(self) -> bool:
        return self._server is not None

    @property
    def url(self) -> str:
        """Base URL ending in ``/``, e.g. ``http://127.0.0.1:8123/``."""
        host = "127.0.0.1" if self.host in ("", "0.0.0.0") else self.host
        return f"http://{host}:{self.port}/"

    @property
    def requests(self) -> list[RequestRecord]:
        """A copy of the requests seen so far (empty before ``start()``)."""
        if self._server is None:
            return []
        with self._server._requests_lock:
            return list(self._server.requests)

    def __enter__(self) -> FileServer:
        return self.start()

    def __exit__(self, *exc: object) -> None:
        self.stop()

    def __repr__(self) -> str:
        state = self.url if self.running else "stopped"
        return f"FileServer(root={str(self.root)!r}, {state})"


@contextmanager
def serve_directory(
    root: str | os.PathLike[str], host: str = "127.0.0.1", port: int = 0
) -> Iterator[str]:
    """Serve ``root`` for the duration of a ``with`` block; yields the base URL."""
    server = FileServer(root, host, port).start()
    try:
        yield server.url
    finally:
        server.stop()


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers serve-folder DIR [--port N]``: serve until Ctrl-C."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers serve-folder",
        description="Serve a folder over HTTP (Range requests supported) until Ctrl-C.",
    )
    parser.add_argument("root", type=Path, help="folder to serve")
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=0, help="port (default: a free one)")
    args = parser.parse_args(argv)
    try:
        server = FileServer(args.root, args.host, args.port).start()
    except OSError as exc:  # missing folder, port in use, ...
        print(f"serve-folder: {exc}", file=sys.stderr)
        return 1
    print(f"serving {server.root} at {server.url} (Ctrl-C to stop)", flush=True)
    try:
        threading.Event().wait()
    except KeyboardInterrupt:
        pass
    finally:
        server.stop()
    return 0
