"""Write RAR 1.5–4.x archives with stored (uncompressed) entries.

No free tool writes RAR, yet the project must pack its generated dataset exactly
like the real HMDB51 archives so that download → extract → parse runs for real.
Stored entries need no compression code, only the block layout (RAR technote 1.5–4.x):

    marker   ``Rar!\\x1a\\x07\\x00``
    main     HEAD_CRC HEAD_TYPE=0x73 HEAD_FLAGS HEAD_SIZE RESERVED1(2) RESERVED2(4)
    file     HEAD_CRC HEAD_TYPE=0x74 HEAD_FLAGS(0x8000 LONG_BLOCK) HEAD_SIZE
             PACK_SIZE UNP_SIZE HOST_OS FILE_CRC FTIME UNP_VER METHOD NAME_SIZE ATTR
             [HIGH_PACK_SIZE HIGH_UNP_SIZE] FILE_NAME, then the raw bytes
    end      HEAD_CRC HEAD_TYPE=0x7B HEAD_FLAGS HEAD_SIZE

``HEAD_CRC`` is the low 16 bits of the CRC32 of the header bytes after itself. Names
use ``/`` in the API and ``\\`` on disk (as WinRAR writes them); every reader maps both.
Output is byte-for-byte deterministic: a fixed timestamp, no host-dependent fields.
"""
from __future__ import annotations

import struct
import zlib
from collections.abc import Iterable
from datetime import datetime
from pathlib import Path

from helpers.atomic import atomic_open

__all__ = [
    "MARKER",
    "METHOD_STORED",
    "DEFAULT_TIMESTAMP",
    "write_rar",
    "main_header",
    "file_header",
    "end_header",
    "dos_time",
]

MARKER = b"Rar!\x1a\x07\x00"
METHOD_STORED = 0x30          # "m0": no compression; 0x31..0x35 are the compressed methods
DEFAULT_TIMESTAMP = datetime(2011, 11, 11, 0, 0, 0)   # fixed so output bytes never vary

HEAD_MAIN, HEAD_FILE, HEAD_END = 0x73, 0x74, 0x7B
FLAG_LARGE = 0x0100           # 64-bit sizes follow ATTR (members of 4 GiB and more)
FLAG_UNICODE = 0x0200         # name is UTF-8 (no NUL inside: the form RAR 5 writes)
FLAG_LONG_BLOCK = 0x8000      # ADD_SIZE (here PACK_SIZE) counts data after the header
END_SKIP_IF_UNKNOWN = 0x4000  # what WinRAR sets on its end block
HOST_WIN32 = 2
UNPACK_VERSION = 20           # 2.0: the lowest version that reads stored entries + these headers
ATTR_ARCHIVE = 0x20           # Windows "archive" attribute: a plain file
_CHUNK = 1 << 20
_FILE_FIXED = struct.Struct("<BHHIIBIIBBHI")  # HEAD_TYPE … ATTR (after HEAD_CRC)


def dos_time(moment: datetime) -> int:
    """Pack a datetime into the 32-bit MS-DOS date/time RAR 4 stores (2-second steps)."""
    if not 1980 <= moment.year <= 2107:
        raise ValueError(f"DOS time covers 1980–2107, got {moment.year}")
    return ((moment.year - 1980) << 25 | moment.month << 21 | moment.day << 16
            | moment.hour << 11 | moment.minute << 5 | moment.second // 2)


def _with_crc(body: bytes) -> bytes:
    """Prefix a header body (from HEAD_TYPE on) with its 16-bit CRC."""
    return struct.pack("<H", zlib.crc32(body) & 0xFFFF) + body


def main_header() -> bytes:
    """The 13-byte archive header: no flags (not solid, not a volume, no comment)."""
    return _with_crc(struct.pack("<BHHHI", HEAD_MAIN, 0, 13, 0, 0))


def end_header() -> bytes:
    """The 7-byte end-of-archive block."""
    return _with_crc(struct.pack("<BHH", HEAD_END, END_SKIP_IF_UNKNOWN, 7))


def _encode_name(name: str) -> tuple[bytes, int]:
    """Name bytes with ``\\`` separators, and the flag saying how they are encoded."""
    stored = name.replace("/", "\\")
    try:
        return stored.encode("ascii"), 0
    except UnicodeEncodeError:
        return stored.encode("utf-8"), FLAG_UNICODE


def file_header(name: str, size: int, crc: int, *, method: int = METHOD_STORED,
                timestamp: datetime = DEFAULT_TIMESTAMP, host_os: int = HOST_WIN32,
                attributes: int = ATTR_ARCHIVE, packed_size: int | None = None) -> bytes:
    """One file header (type 0x74); the member's ``packed_size`` bytes follow it.

    Public so tests can build unusual archives (a compressed ``method``, a Unix
    symlink via ``host_os=3, attributes=0o120777``) from the same parts.
    """
    packed = size if packed_size is None else packed_size
    name_bytes, flags = _encode_name(name)
    flags |= FLAG_LONG_BLOCK
    large = b""
    if packed > 0xFFFFFFFF or size > 0xFFFFFFFF:
        flags |= FLAG_LARGE
        large = struct.pack("<II", packed >> 32, size >> 32)
    head_size = 2 + _FILE_FIXED.size + len(large) + len(name_bytes)
    body = _FILE_FIXED.pack(
        HEAD_FILE, flags, head_size,
        packed & 0xFFFFFFFF, size & 0xFFFFFFFF, host_os, crc & 0xFFFFFFFF,
        dos_time(timestamp), UNPACK_VERSION, method, len(name_bytes), attributes,
    ) + large + name_bytes
    return _with_crc(body)


def _check_name(name: str) -> None:
    """Refuse names that no sane archive holds (the extractor refuses them too)."""
    parts = name.replace("\\", "/").split("/")
    if (not name or name.startswith(("/", "\\")) or ":" in parts[0]
            or any(p in ("", ".", "..") for p in parts) or "\0" in name):
        raise ValueError(f"unsafe or empty member name for a RAR archive: {name!r}")


def _write_member(out, name: str, data: bytes | Path, timestamp: datetime,
                  method: int) -> None:
    if isinstance(data, (bytes, bytearray, memoryview)):
        payload = bytes(data)
        out.write(file_header(name, len(payload), zlib.crc32(payload),
                              method=method, timestamp=timestamp))
        out.write(payload)
        return
    # A file: stream it, then go back and fill in the CRC (header length is fixed
    # by the name and the size, both known before reading).
    path = Path(data)
    size = path.stat().st_size
    header_at = out.tell()
    out.write(file_header(name, size, 0, method=method, timestamp=timestamp))
    crc, copied = 0, 0
    with path.open("rb") as src:
        while chunk := src.read(_CHUNK):
            crc = zlib.crc32(chunk, crc)
            copied += len(chunk)
            out.write(chunk)
    if copied != size:
        raise ValueError(f"{path} changed size while being archived ({size} → {copied} bytes)")
    end = out.tell()
    out.seek(header_at)
    out.write(file_header(name, size, crc, method=method, timestamp=timestamp))
    out.seek(end)


def write_rar(archive: Path, members: Iterable[tuple[str, bytes | Path]], *,
              timestamp: datetime = DEFAULT_TIMESTAMP, method: int = METHOD_STORED,
              allow_unsafe_names: bool = False) -> Path:
    """Write ``members`` (name with ``/`` separators, bytes or a file to stream) to a RAR 4 archive.

    Entries are stored uncompressed, so ``rarfile`` reads them without any external
    tool and ``unar``/``unrar`` accept them too. The file appears atomically (written
    to a ``.part`` file in the same folder, then renamed). Folders are implied by the
    member names; no directory entries are written.

    ``method`` only relabels the headers (the bytes stay raw): tests use e.g. 0x33 to
    get an archive that claims to need a decompressor. ``allow_unsafe_names`` lets
    tests write hostile names such as ``../evil`` or ``/abs``.
    """
    archive = Path(archive)
    archive.parent.mkdir(parents=True, exist_ok=True)
    with atomic_open(archive, "wb") as out:
        out.write(MARKER)
        out.write(main_header())
        for name, data in members:
            if not allow_unsafe_names:
                _check_name(name)
            _write_member(out, name, data, timestamp, method)
        out.write(end_header())
    return archive
