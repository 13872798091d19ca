"""Atomic file writes: a reader (or a resumed run after a kill) sees the old file or
the complete new one, never a truncated mix.

Every writer in the package goes through here: it writes to a unique temporary file
in the target's own folder (same file system, so the rename is atomic), optionally
fsyncs it, then ``os.replace``-s it over the target. On any error, or a
KeyboardInterrupt, the temporary file is removed and the target is left untouched.

    with atomic_path(target) as tmp:      # for libraries that want a path
        np.savez(tmp, ...)
    with atomic_open(target, "w") as fh:  # for writes through a file object
        json.dump(obj, fh)
    atomic_write_text(target, text); atomic_write_bytes(target, data)
"""
from __future__ import annotations

import contextlib
import os
import tempfile
from collections.abc import Iterator
from pathlib import Path
from typing import IO

# Files created by mkstemp are 0600; written files should be as readable as a plain open().
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


@contextlib.contextmanager
def atomic_path(path: str | os.PathLike[str], *, fsync: bool = False) -> Iterator[Path]:
    """Yield a temporary path beside ``path``; rename it over ``path`` when the block ends.

    The temporary name keeps the target's suffix (``.x.npz.part`` would make
    ``np.savez`` append another ``.npz``), so it is ``.<name>.<random>.part<suffix>``.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, name = tempfile.mkstemp(prefix=f".{target.name}.", suffix=f".part{target.suffix}", dir=target.parent)
    os.close(fd)
    tmp = Path(name)
    try:
        yield tmp
        if fsync:
            with open(tmp, "rb+") as fh:
                os.fsync(fh.fileno())
        os.chmod(tmp, FILE_MODE)
        os.replace(tmp, target)
    finally:
        tmp.unlink(missing_ok=True)


@contextlib.contextmanager
def atomic_open(path: str | os.PathLike[str], mode: str = "wb", *, fsync: bool = False,
                encoding: str | None = None) -> Iterator[IO]:
    """``open()`` for writing (``"w"`` or ``"wb"``) whose result appears only on success."""
    if mode not in ("w", "wb"):
        raise ValueError(f"atomic_open writes whole files: mode must be 'w' or 'wb', not {mode!r}")
    if "b" not in mode and encoding is None:
        encoding = "utf-8"
    with atomic_path(path) as tmp:
        with open(tmp, mode, encoding=encoding) as fh:
            yield fh
            if fsync:
                fh.flush()
                os.fsync(fh.fileno())


def atomic_write_bytes(path: str | os.PathLike[str], data: bytes, *, fsync: bool = False) -> Path:
    """Write ``data`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "wb", fsync=fsync) as fh:
        fh.write(data)
    return Path(path)


def atomic_write_text(path: str | os.PathLike[str], text: str, *, encoding: str = "utf-8") -> Path:
    """Write ``text`` to ``path`` atomically; returns the path."""
    with atomic_open(path, "w", encoding=encoding) as fh:
        fh.write(text)
    return Path(path)
