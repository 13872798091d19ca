"""Resumable, verified downloads of large archives (HMDB51 is 2 GB over slow links).

Why: a 2 GB download from a university server over 40 minutes will be interrupted
sometimes; starting over wastes the time already spent, and a truncated or altered
archive fails much later, deep inside extraction. So:

* the body streams into ``<file>.part``; a dropped connection, a timeout or a short
  body is retried with exponential back-off and resumed with ``Range: bytes=N-``
  (a server that answers 200 instead of 206 is followed from byte 0);
* the file gets its final name only once complete and verified (size, and
  ``sha256`` / ``md5`` when known); a mismatch raises :class:`ChecksumMismatch` and
  leaves nothing behind;
* with no checksum known, ``<file>.sha256`` (``sha256sum`` format) is written next to
  it, so a second call verifies the file on disk and returns without downloading.

    path = download(url, "data/archives/", sha256=..., size=...)
"""
from __future__ import annotations

import argparse
import hashlib
import logging
import os
import re
import socket
import sys
import time
import urllib.parse
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

import requests
import urllib3.exceptions

from helpers.atomic import atomic_write_text

logger = logging.getLogger(__name__)

MiB = 1024 * 1024
_HASH_CHUNK = 4 * MiB
_MAX_BACKOFF_S = 60.0
# Answers worth retrying (the server may recover); other 4xx/5xx are final.
_RETRYABLE_STATUS = frozenset({408, 425, 429, 500, 502, 503, 504})
_CONTENT_RANGE_RE = re.compile(r"^\s*bytes\s+(\d+)-(\d+)/(\d+|\*)\s*$", re.IGNORECASE)
_UNSATISFIED_RANGE_RE = re.compile(r"^\s*bytes\s+\*/(\d+)\s*$", re.IGNORECASE)


class DownloadError(RuntimeError):
    """The file could not be fetched (unreachable host, HTTP error, retries exhausted)."""


class ChecksumMismatch(DownloadError):
    """The fetched bytes are not the expected ones (size, sha256 or md5)."""


class _Interrupted(Exception):
    """An attempt ended early in a way worth retrying (short body, 5xx, …)."""


# --------------------------------------------------------------------------- hashing


def _hash_file(path: Path, algorithms: Iterable[str]) -> dict[str, str]:
    """Hex digests of ``path`` for several algorithms in one chunked pass."""
    hashers = {name: hashlib.new(name) for name in algorithms}
    with open(path, "rb") as f:
        while chunk := f.read(_HASH_CHUNK):
            for h in hashers.values():
                h.update(chunk)
    return {name: h.hexdigest() for name, h in hashers.items()}


def sha256_file(path: str | os.PathLike[str]) -> str:
    """SHA-256 hex digest of a file, read in chunks (constant memory)."""
    return _hash_file(Path(path), ["sha256"])["sha256"]


def sidecar_path(path: str | os.PathLike[str]) -> Path:
    """``<file>.sha256``: where the digest of a downloaded file is recorded."""
    path = Path(path)
    return path.with_name(path.name + ".sha256")


def read_sidecar(path: str | os.PathLike[str]) -> str | None:
    """The digest recorded in ``<file>.sha256`` (``sha256sum`` format), or None."""
    try:
        text = sidecar_path(path).read_text(encoding="utf-8")
    except (FileNotFoundError, UnicodeDecodeError):
        return None
    fields = text.split()
    if fields and re.fullmatch(r"[0-9a-fA-F]{64}", fields[0]):
        return fields[0].lower()
    return None


def write_sidecar(path: str | os.PathLike[str], digest: str) -> Path:
    """Write ``<digest>  <name>`` to ``<file>.sha256`` atomically; returns its path."""
    path = Path(path)
    return atomic_write_text(sidecar_path(path), f"{digest.lower()}  {path.name}\n")


# --------------------------------------------------------------------------- helpers


def _normalize_digest(value: str | None, name: str, length: int) -> str | None:
    if value is None:
        return None
    digest = value.strip().lower()
    if not re.fullmatch(rf"[0-9a-f]{{{length}}}", digest):
        raise ValueError(f"{name} must be {length} hex digits, got {value!r}")
    return digest


def _target_path(url: str, dest: str | os.PathLike[str]) -> Path:
    """``dest`` itself, or ``dest/<name from URL>`` when ``dest`` is a folder."""
    dest_str = os.fspath(dest)
    dest_path = Path(dest_str)
    if dest_path.is_dir() or dest_str.endswith(("/", os.sep)):
        name = Path(urllib.parse.unquote(urllib.parse.urlsplit(url).path)).name
        if not name:
            raise DownloadError(f"cannot take a file name from {url!r}; pass a file path as dest")
        return dest_path / name
    return dest_path


def _with_hint(message: str, hint: str | None) -> str:
    return f"{message}. Hint: {hint}" if hint else message


def _is_dns_failure(exc: BaseException) -> bool:
    """True when the host name could not be resolved (retrying will not help)."""
    seen: set[int] = set()
    stack: list[Any] = [exc]
    while stack:
        err = stack.pop()
        if err is None or id(err) in seen:
            continue
        seen.add(id(err))
        if isinstance(err, socket.gaierror) or type(err).__name__ == "NameResolutionError":
            return True
        if isinstance(err, BaseException):
            stack += [err.__cause__, err.__context__, getattr(err, "reason", None), *err.args]
    return False


def _describe(exc: BaseException) -> str:
    """A short reason for a network error (urllib3's messages nest deeply)."""
    if isinstance(exc, requests.Timeout):
        return "timed out"
    if isinstance(exc, requests.exceptions.ChunkedEncodingError):
        return "connection dropped mid-body"
    if isinstance(exc, requests.ConnectionError):
        text = str(exc)
        for marker in ("Connection refused", "Network is unreachable", "No route to host",
                       "Connection reset", "Connection aborted"):
            if marker.lower() in text.lower():
                return marker.lower()
        return "connection failed"
    return str(exc) or type(exc).__name__


def _existing_is_complete(
    target: Path, sha256: str | None, md5: str | None, size: int | None
) -> bool:
    """Does ``target`` already hold the expected bytes (so no download is needed)?"""
    if not target.is_file():
        return False
    actual_size = target.stat().st_size
    if size is not None and actual_size != size:
        logger.warning("%s has %d bytes, expected %d: downloading again", target, actual_size, size)
        return False
    recorded = read_sidecar(target)
    wanted = [name for name, value in (("sha256", sha256 or recorded), ("md5", md5)) if value]
    if not wanted:
        # Only complete files ever get the final name, so an unlabelled file is one
        # we (or the user, e.g. archives copied in by hand) put there: keep it.
        write_sidecar(target, sha256_file(target))
        return True
    digests = _hash_file(target, wanted)
    expected = {"sha256": sha256 or recorded, "md5": md5}
    bad = [name for name in wanted if digests[name] != expected[name]]
    if bad:
        logger.warning("%s does not match its %s: downloading again", target, "/".join(bad))
        return False
    if sha256 is None and md5 is None and recorded is None:
        write_sidecar(target, digests["sha256"])
    return True


class _Progress:
    """One tqdm bar across attempts, created at the first answer (so an unreachable
    host prints no empty bar) and starting at the bytes already on disk."""

    def __init__(self, enabled: bool, name: str) -> None:
        self.enabled, self.name, self.bar = enabled, name, None

    def start(self, total: int | None, done: int) -> None:
        if not self.enabled:
            return
        if self.bar is None:
            from tqdm.auto import tqdm  # lazy: tqdm.auto may import IPython

            self.bar = tqdm(total=total, initial=done, unit="B", unit_scale=True,
                            unit_divisor=1024, desc=self.name, dynamic_ncols=True)
        else:
            self.bar.total = total
            self.bar.n = done
            self.bar.refresh()

    def update(self, n: int) -> None:
        if self.bar is not None:
            self.bar.update(n)

    def close(self) -> None:
        if self.bar is not None:
            self.bar.close()


# --------------------------------------------------------------------------- download


def download(
    url: str,
    dest: str | os.PathLike[str],
    *,
    sha256: str | None = None,
    md5: str | None = None,
    size: int | None = None,
    retries: int = 5,
    backoff: float = 1.0,
    timeout: float = 30,
    chunk_size: int = MiB,
    progress: bool = True,
    session: requests.Session | None = None,
    hint: str | None = None,
) -> Path:
    """Download ``url`` to ``dest`` (a file path, or a folder to keep the URL's name).

    Resumes ``<file>.part`` across interruptions, retrying up to ``retries`` times in
    a row without progress (sleeping ``backoff * 2**k`` seconds, at most 60 s); a
    retry that brought new bytes resets the count. Verifies ``size`` (or the size
    the server announces), ``sha256`` and ``md5`` before giving the file its final
    name. Returns the final path at once if it is already there and verified.

    Raises :class:`ChecksumMismatch` (nothing left on disk) or :class:`DownloadError`
    (unreachable host, HTTP 4xx, retries exhausted); ``hint`` is appended to the
    message, e.g. where to put the file by hand.
    """
    sha256 = _normalize_digest(sha256, "sha256", 64)
    md5 = _normalize_digest(md5, "md5", 32)
    if size is not None and size < 0:
        raise ValueError(f"size must be >= 0, got {size}")
    target = _target_path(url, dest)
    target.parent.mkdir(parents=True, exist_ok=True)
    if _existing_is_complete(target, sha256, md5, size):
        logger.info("%s is already complete", target)
        return target
    for stale in (target, sidecar_path(target)):
        stale.unlink(missing_ok=True)

    part = target.with_name(target.name + ".part")
    own_session = session is None
    http = session if session is not None else requests.Session()
    bar = _Progress(progress, target.name)
    try:
        total = _fetch_into(
            url, part, http=http, size=size, retries=retries, backoff=backoff,
            timeout=timeout, chunk_size=chunk_size, bar=bar, hint=hint,
        )
    finally:
        bar.close()
        if own_session:
            http.close()

    _verify(part, url=url, total=total, sha256=sha256, md5=md5, hint=hint, target=target)
    os.replace(part, target)
    return target


def _verify(
    part: Path, *, url: str, total: int | None, sha256: str | None, md5: str | None,
    hint: str | None, target: Path,
) -> None:
    """Check the finished ``.part``; on mismatch delete it and raise ChecksumMismatch."""
    actual = part.stat().st_size
    problems = []
    if total is not None and actual != total:
        problems.append(f"size {actual} bytes, expected {total}")
    else:
        # sha256 is needed to check it or, with no checksum at all, for the sidecar.
        algorithms = ["sha256"] if sha256 or not md5 else []
        digests = _hash_file(part, algorithms + (["md5"] if md5 else []))
        for name, expected in (("sha256", sha256), ("md5", md5)):
            if expected is not None and digests[name] != expected:
                problems.append(f"{name} {digests[name]}, expected {expected}")
        if not problems and sha256 is None and md5 is None:
            write_sidecar(target, digests["sha256"])
    if problems:
        part.unlink(missing_ok=True)
        sidecar_path(target).unlink(missing_ok=True)
        raise ChecksumMismatch(_with_hint(f"{url} -> {target}: {'; '.join(problems)}", hint))


def _fetch_into(
    url: str, part: Path, *, http: requests.Session, size: int | None, retries: int,
    backoff: float, timeout: float, chunk_size: int, bar: _Progress, hint: str | None,
) -> int | None:
    """Fill ``part`` with the whole body; returns the expected total size if known."""
    total = size
    failures = 0  # consecutive attempts that brought no new bytes
    high_water = part.stat().st_size if part.exists() else 0

    while True:
        have = part.stat().st_size if part.exists() else 0
        if total is not None and have > total:
            part.unlink()
            have = 0
        if total is not None and have == total:
            return total
        try:
            total = _attempt(url, part, have, http=http, size=size, total=total,
                             timeout=timeout, chunk_size=chunk_size, bar=bar, hint=hint)
            return total
        except DownloadError:
            raise
        except (requests.ConnectionError, requests.Timeout,
                requests.exceptions.ChunkedEncodingError, _Interrupted) as exc:
            if _is_dns_failure(exc):
                host = urllib.parse.urlsplit(url).hostname
                raise DownloadError(_with_hint(
                    f"cannot download {url}: host {host!r} could not be resolved "
                    "(no internet connection?)", hint)) from exc
            now = part.stat().st_size if part.exists() else 0
            if now > high_water:
                high_water, failures = now, 0
            failures += 1
            if failures > retries:
                raise DownloadError(_with_hint(
                    f"cannot download {url}: {_describe(exc)} "
                    f"(gave up after {failures} attempt{'s' if failures > 1 else ''})", hint
                )) from exc
            delay = min(backoff * 2 ** (failures - 1), _MAX_BACKOFF_S)
            logger.warning("%s: %s; retry %d/%d in %.1f s (have %d bytes)",
                           url, _describe(exc), failures, retries, delay, now)
            time.sleep(delay)


def _attempt(
    url: str, part: Path, have: int, *, http: requests.Session, size: int | None,
    total: int | None, timeout: float, chunk_size: int, bar: _Progress, hint: str | None,
) -> int | None:
    """One GET: resume from ``have`` if possible; returns the total size if known."""
    # identity: Content-Length must count the bytes we store, not a gzip of them.
    headers = {"Accept-Encoding": "identity"}
    if have:
        headers["Range"] = f"bytes={have}-"
    with http.get(url, headers=headers, stream=True, timeout=timeout) as response:
        status = response.status_code
        if status == 416 and have:
            # Our .part is at least as long as the file: complete, or stale.
            match = _UNSATISFIED_RANGE_RE.match(response.headers.get("Content-Range", ""))
            server_total = int(match.group(1)) if match else None
            if server_total is not None and server_total == have:
                return server_total
            part.unlink()
            raise _Interrupted(f"server rejected Range bytes={have}- (HTTP 416); restarting")
        if status in _RETRYABLE_STATUS:
            raise _Interrupted(f"HTTP {status} {response.reason}")
        if status >= 400:
            raise DownloadError(_with_hint(
                f"cannot download {url}: HTTP {status} {response.reason or ''}".rstrip(), hint))

        mode = "wb"
        offset = 0
        if status == 206 and have:
            match = _CONTENT_RANGE_RE.match(response.headers.get("Content-Range", ""))
            if match is None or int(match.group(1)) != have:
                part.unlink()
                raise _Interrupted("server answered an unexpected range; restarting")
            mode, offset = "ab", have
            if match.group(3) != "*":
                total = int(match.group(3))
        else:
            if have:
                logger.info("%s: server ignored the Range request; restarting from 0", url)
            length = response.headers.get("Content-Length")
            if length is not None and length.isdigit():
                total = int(length)
        if size is not None and total is not None and total != size:
            part.unlink(missing_ok=True)
            raise ChecksumMismatch(_with_hint(
                f"{url}: server reports {total} bytes, expected {size}", hint))

        bar.start(total, offset)
        received = offset
        with open(part, mode) as f:
            for chunk in _iter_body(response, chunk_size):
                f.write(chunk)
                received += len(chunk)
                bar.update(len(chunk))
        if total is not None and received < total:
            raise _Interrupted(f"short body: {received} of {total} bytes")
        return total


def _iter_body(response: requests.Response, chunk_size: int) -> Iterator[bytes]:
    """Body chunks as they arrive, so bytes read before a drop reach the .part.

    ``iter_content`` asks urllib3 for full ``chunk_size`` reads and discards what it
    had buffered when the connection breaks (up to 1 MiB per interruption);
    ``read1`` returns whatever has arrived instead. urllib3 < 2 lacks ``read1``.
    """
    read1 = getattr(response.raw, "read1", None)
    if read1 is None:
        yield from response.iter_content(chunk_size=chunk_size)
        return
    while True:
        try:
            chunk = read1(chunk_size, decode_content=True)
        except urllib3.exceptions.ReadTimeoutError as exc:
            raise requests.Timeout(exc) from exc
        except (urllib3.exceptions.ProtocolError, urllib3.exceptions.SSLError) as exc:
            raise requests.exceptions.ChunkedEncodingError(exc) from exc
        if not chunk:
            return
        yield chunk


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers download URL DEST [--sha256 X] [--md5 X] [--size N]``."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers download",
        description="Download a URL resumably; verify size and checksums; print the path.",
    )
    parser.add_argument("url")
    parser.add_argument("dest", help="file path, or a folder (keeps the URL's file name)")
    parser.add_argument("--sha256", help="expected SHA-256 (hex)")
    parser.add_argument("--md5", help="expected MD5 (hex)")
    parser.add_argument("--size", type=int, help="expected size in bytes")
    parser.add_argument("--retries", type=int, default=5, help="retries without progress (default 5)")
    parser.add_argument("--backoff", type=float, default=1.0, help="first retry delay in s (default 1)")
    parser.add_argument("--timeout", type=float, default=30, help="connect/read timeout in s (default 30)")
    parser.add_argument("--no-progress", action="store_true", help="hide the progress bar")
    args = parser.parse_args(argv)
    try:
        path = download(
            args.url, args.dest, sha256=args.sha256, md5=args.md5, size=args.size,
            retries=args.retries, backoff=args.backoff, timeout=args.timeout,
            progress=not args.no_progress,
        )
    except (DownloadError, ValueError, OSError) as exc:
        print(f"download: {exc}", file=sys.stderr)
        return 1
    print(path)
    return 0
