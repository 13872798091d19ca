"""Extract RAR, zip and tar archives safely, once, and all the way down.

Why not ``RarFile.extractall``/``tarfile.extractall``: the HMDB51 download is a RAR of
51 per-class RARs, a failed or interrupted run must not leave half a class behind,
a second run (every notebook restart) must cost nothing, and a hostile member name
must be refused *before* anything is written. So every archive is read through one
small reader interface and extracted by the same loop:

1. list the members and refuse any that would escape the target (``UnsafeArchiveMember``);
2. extract into a staging folder inside ``dest`` (same file system, so moves are renames);
3. with ``nested=True`` every extracted ``*.rar`` is extracted in its turn (into its own
   staging folder, merged in only when complete) and then deleted;
4. move the finished tree into ``dest`` and write the marker
   ``dest/.extracted-<archive name>.json`` (archive size + mtime, member/file counts).

RAR entries are read by ``rarfile``: stored ones in pure Python, compressed ones
(the real HMDB51 archives) through ``unar`` or ``unrar``.
"""
from __future__ import annotations

import argparse
import contextlib
import json
import os
import re
import shutil
import stat
import sys
import tarfile
import tempfile
import zipfile
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

from helpers.atomic import atomic_write_text

__all__ = [
    "ArchiveError",
    "UnsafeArchiveMember",
    "MissingExtractorError",
    "extract",
    "is_extracted",
    "read_marker",
    "marker_path",
    "main",
]

INSTALL_HINT = ("install `unar` (Debian/Ubuntu: apt-get install unar; macOS: brew install unar) "
                "or `unrar`, then run again")
_DRIVE = re.compile(r"^[A-Za-z]:")
_CHUNK = 1 << 20


class ArchiveError(RuntimeError):
    """The archive cannot be extracted: corrupt, truncated, CRC mismatch, unsupported."""

    def __init__(self, path: Path | str, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


class UnsafeArchiveMember(ArchiveError):
    """A member would land outside the target: absolute path, ``..``, drive letter, link."""

    def __init__(self, path: Path | str, member: str, reason: str) -> None:
        self.member = member
        super().__init__(path, f"refusing member {member!r}: {reason}")


class MissingExtractorError(ArchiveError):
    """Compressed RAR entries and no ``unar``/``unrar`` on this machine."""


# --------------------------------------------------------------------------- readers


@dataclass(frozen=True)
class _Source:
    """The file being read, and how errors name it (inner RARs live in a staging folder)."""

    file: Path               # what is opened
    archive: Path            # what errors name: the archive the caller passed
    inner: str | None = None  # member name of the inner archive being extracted, if nested

    def why(self, reason: str) -> str:
        return reason if self.inner is None else f"in {self.inner}: {reason}"

    def error(self, reason: str, cls: type[ArchiveError] = ArchiveError) -> ArchiveError:
        return cls(self.archive, self.why(reason))


@dataclass(frozen=True)
class _Entry:
    """One archive member, format-neutral."""

    name: str                # as stored (for messages)
    kind: str                # "file" | "dir" | "link" | "special"
    size: int
    info: Any                # the format's own info object, handed back to open()


class _Reader(contextlib.AbstractContextManager):
    """What the extraction loop needs from a format: list, preflight, open."""

    def entries(self) -> list[_Entry]:
        raise NotImplementedError

    def preflight(self, entries: list[_Entry]) -> None:
        """Raise before anything is written if the members cannot be read here."""

    def open(self, entry: _Entry) -> IO[bytes]:
        raise NotImplementedError


class _RarReader(_Reader):
    def __init__(self, src: _Source) -> None:
        import rarfile

        self._rarfile = rarfile
        self.src = src
        self.archive = rarfile.RarFile(src.file, errors="strict")

    def __exit__(self, *exc: object) -> None:
        self.archive.close()

    def entries(self) -> list[_Entry]:
        out = []
        for info in self.archive.infolist():
            if info.is_symlink() or getattr(info, "file_redir", None):
                kind = "link"
            elif info.is_dir():
                kind = "dir"
            else:
                kind = "file"
            out.append(_Entry(info.filename, kind, info.file_size, info))
        return out

    def preflight(self, entries: list[_Entry]) -> None:
        rarfile = self._rarfile
        if self.archive.needs_password() or any(e.info.needs_password() for e in entries):
            raise self.src.error("password-protected RAR archives are not supported")
        if any(e.kind == "file" and e.info.compress_type != rarfile.RAR_M0 for e in entries):
            # Only unrar and unar decode RAR reliably through rarfile; bsdtar and 7-zip don't.
            try:
                rarfile.tool_setup(unrar=True, unar=True, bsdtar=False,
                                   sevenzip=False, sevenzip2=False, force=True)
            except rarfile.RarCannotExec:
                raise self.src.error(f"compressed RAR entries need an external tool: {INSTALL_HINT}",
                                     MissingExtractorError) from None

    def open(self, entry: _Entry) -> IO[bytes]:
        return self.archive.open(entry.info)


class _ZipReader(_Reader):
    def __init__(self, src: _Source) -> None:
        self.src = src
        self.archive = zipfile.ZipFile(src.file)

    def __exit__(self, *exc: object) -> None:
        self.archive.close()

    def entries(self) -> list[_Entry]:
        out = []
        for info in self.archive.infolist():
            mode = info.external_attr >> 16
            if stat.S_ISLNK(mode):
                kind = "link"
            elif info.is_dir():
                kind = "dir"
            else:
                kind = "file"
            out.append(_Entry(info.filename, kind, info.file_size, info))
        return out

    def preflight(self, entries: list[_Entry]) -> None:
        if any(e.info.flag_bits & 0x1 for e in entries):
            raise self.src.error("encrypted zip archives are not supported")

    def open(self, entry: _Entry) -> IO[bytes]:
        return self.archive.open(entry.info)


class _TarReader(_Reader):
    def __init__(self, src: _Source) -> None:
        self.src = src
        self.archive = tarfile.open(src.file, "r:*")

    def __exit__(self, *exc: object) -> None:
        self.archive.close()

    def entries(self) -> list[_Entry]:
        out = []
        for info in self.archive.getmembers():   # reads to the end: truncation shows here
            if info.issym() or info.islnk():
                kind = "link"
            elif info.isdir():
                kind = "dir"
            elif info.isreg():
                kind = "file"
            else:
                kind = "special"
            out.append(_Entry(info.name, kind, info.size, info))
        return out

    def open(self, entry: _Entry) -> IO[bytes]:
        handle = self.archive.extractfile(entry.info)
        assert handle is not None   # regular files always have a handle
        return handle


def _open_reader(src: _Source) -> _Reader:
    """Pick the reader by content (magic bytes), not by file name."""
    import rarfile

    if rarfile.is_rarfile(src.file):
        return _RarReader(src)
    if zipfile.is_zipfile(src.file):
        return _ZipReader(src)
    if tarfile.is_tarfile(src.file):
        return _TarReader(src)
    raise src.error("not a RAR, zip or tar archive (or damaged beyond recognition)")


def _corruption_errors() -> tuple[type[BaseException], ...]:
    """Exceptions that mean "this archive is broken" across the formats we read."""
    import gzip
    import lzma
    import zlib

    import rarfile

    return (rarfile.Error, zipfile.BadZipFile, zipfile.LargeZipFile, tarfile.TarError,
            gzip.BadGzipFile, EOFError, zlib.error, lzma.LZMAError, NotImplementedError,
            # a file where the archive also has a folder, or the reverse
            IsADirectoryError, NotADirectoryError, FileExistsError)


# --------------------------------------------------------------------------- safety


def _safe_parts(src: _Source, entry: _Entry) -> tuple[str, ...]:
    """The member's path components, or UnsafeArchiveMember if it could leave the target."""
    name = entry.name

    def refuse(reason: str) -> UnsafeArchiveMember:
        return UnsafeArchiveMember(src.archive, name, src.why(reason))

    if entry.kind == "link":
        raise refuse("symbolic and hard links are not extracted")
    if entry.kind == "special":
        raise refuse("device, FIFO and other special files are not extracted")
    norm = name.replace("\\", "/")
    if "\0" in norm:
        raise refuse("NUL byte in the name")
    if norm.startswith("/"):
        raise refuse("absolute path")
    if _DRIVE.match(norm):
        raise refuse("Windows drive letter")
    parts = tuple(p for p in norm.split("/") if p not in ("", "."))
    if ".." in parts:
        raise refuse("'..' component")
    if not parts and entry.kind == "file":
        raise refuse("empty name")
    return parts


# --------------------------------------------------------------------------- extraction


def _extract_one_level(src: _Source, target: Path, *, progress: bool,
                       leave: bool) -> Iterator[tuple[Path, int]]:
    """Extract ``src`` into ``target``; yield each written file and the archive's member count.

    Every member is checked before the first byte is written. Errors are raised as
    ArchiveError naming the caller's archive (and the inner RAR, when nested).
    """
    import rarfile
    from tqdm.auto import tqdm

    errors = _corruption_errors()
    try:
        with _open_reader(src) as reader:
            entries = reader.entries()
            plan = [(entry, _safe_parts(src, entry)) for entry in entries]
            reader.preflight(entries)
            with tqdm(plan, desc=src.inner or src.archive.name, unit="file",
                      disable=not progress, leave=leave) as bar:
                for entry, parts in bar:
                    out = target.joinpath(*parts)
                    if entry.kind == "dir":
                        out.mkdir(parents=True, exist_ok=True)
                        continue
                    out.parent.mkdir(parents=True, exist_ok=True)
                    with reader.open(entry) as stream, open(out, "wb") as dst:
                        shutil.copyfileobj(stream, dst, _CHUNK)
                    yield out, len(plan)
    except ArchiveError:
        raise
    except rarfile.RarCannotExec as exc:
        raise src.error(f"cannot run a RAR tool ({exc}): {INSTALL_HINT}", MissingExtractorError) from None
    except errors as exc:
        raise src.error(f"{type(exc).__name__}: {exc}") from exc


def _extract_inner_rar(archive: Path, inner: Path, tree: Path, staging: Path,
                       progress: bool) -> None:
    """Extract an inner RAR next to itself, atomically (staging, then merge), then delete it."""
    inner_name = inner.relative_to(tree).as_posix()
    stage = Path(tempfile.mkdtemp(prefix="inner-", dir=staging))
    src = _Source(inner, archive, inner_name)
    for _ in _extract_one_level(src, stage, progress=progress, leave=False):
        pass
    inner.unlink()
    conflict = _find_conflict(stage, inner.parent)
    if conflict is not None:
        raise src.error(f"{conflict.relative_to(tree)} clashes (file vs folder) with another member")
    _merge(stage, inner.parent)
    shutil.rmtree(stage)


def _find_conflict(src: Path, dst: Path) -> Path | None:
    """First path where merging ``src`` into ``dst`` would put a file over a folder or back.

    Symlinks in ``dst`` never conflict: ``_merge`` replaces them instead of following them.
    """
    for item in os.scandir(src):
        target = dst / item.name
        if not os.path.lexists(target) or target.is_symlink():
            continue
        src_is_dir = item.is_dir(follow_symlinks=False)
        if src_is_dir != target.is_dir():
            return target
        if src_is_dir:
            found = _find_conflict(Path(item.path), target)
            if found is not None:
                return found
    return None


def _merge(src: Path, dst: Path) -> None:
    """Move the contents of ``src`` into ``dst`` (renames; existing files are replaced).

    Existing symlinks in ``dst`` are replaced, never followed, so nothing is written
    outside ``dst``.
    """
    dst.mkdir(parents=True, exist_ok=True)
    for item in os.scandir(src):
        target = dst / item.name
        if item.is_dir(follow_symlinks=False) and target.is_dir() and not target.is_symlink():
            _merge(Path(item.path), target)
            os.rmdir(item.path)
            continue
        if target.is_symlink():
            target.unlink()
        os.replace(item.path, target)


def _is_nested_rar(path: Path) -> bool:
    return path.suffix.lower() == ".rar"


def marker_path(archive: Path, dest: Path) -> Path:
    """Where ``extract`` records that ``archive`` was fully extracted into ``dest``."""
    return Path(dest) / f".extracted-{Path(archive).name}.json"


def read_marker(archive: Path, dest: Path) -> dict[str, Any] | None:
    """The completion record (size, mtime_ns, members, files, entries, nested), or None."""
    path = marker_path(archive, dest)
    try:
        record = json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    return record if isinstance(record, dict) else None


def is_extracted(archive: Path, dest: Path, *, nested: bool = True) -> bool:
    """True when ``dest`` holds a complete extraction of this very archive file.

    "This very file" means same size and mtime. If the archive was deleted after
    extraction (to save disk), the marker alone counts: the data is there.
    """
    record = read_marker(archive, dest)
    if record is None or record.get("nested") != nested:
        return False
    if not all(os.path.lexists(Path(dest) / name) for name in record.get("entries", [])):
        return False
    try:
        st = Path(archive).stat()
    except FileNotFoundError:
        return True
    return record.get("size") == st.st_size and record.get("mtime_ns") == st.st_mtime_ns


def _remove_stale_staging(dest: Path, prefix: str) -> None:
    """Drop staging folders a killed run of the same archive left behind."""
    for item in dest.glob(f"{prefix}*"):
        if item.is_dir() and not item.is_symlink():
            shutil.rmtree(item, ignore_errors=True)


def extract(archive: Path, dest: Path, *, nested: bool = True, force: bool = False,
            progress: bool = True) -> Path:
    """Extract ``archive`` (RAR, zip, tar, tar.gz/bz2/xz) into ``dest``; return ``dest``.

    All or nothing: members are written to a staging folder inside ``dest`` and moved
    into place only when the whole archive (inner RARs included) extracted cleanly;
    on any error the staging folder is removed and ``dest`` is left as it was.
    Idempotent: a marker records the archive's size and mtime, and a second call
    returns at once (``force=True`` extracts again, replacing files of the same name).
    With ``nested=True`` each ``*.rar`` found inside is extracted where it lay and deleted
    (one level deep: HMDB51's ``hmdb51_org.rar`` → ``<class>.rar`` → ``<class>/*.avi``).

    Raises UnsafeArchiveMember (nothing written), ArchiveError (corrupt, truncated,
    CRC mismatch, not an archive), MissingExtractorError (compressed RAR without
    ``unar``/``unrar``), FileNotFoundError (no archive and no marker).
    """
    archive, dest = Path(archive), Path(dest)
    if not force and is_extracted(archive, dest, nested=nested):
        return dest
    if not archive.is_file():
        raise FileNotFoundError(2, "archive not found", str(archive))
    stat_before = archive.stat()

    created = [d for d in (dest, *dest.parents) if not d.exists()]   # removed again on failure
    dest.mkdir(parents=True, exist_ok=True)
    prefix = f".partial-{archive.name}-"
    _remove_stale_staging(dest, prefix)
    marker = marker_path(archive, dest)
    marker.unlink(missing_ok=True)
    staging = Path(tempfile.mkdtemp(prefix=prefix, dir=dest))
    try:
        tree = staging / "tree"
        tree.mkdir()
        members = 0
        outer = _extract_one_level(_Source(archive, archive), tree, progress=progress, leave=True)
        with contextlib.closing(outer):
            for written, members in outer:
                if nested and _is_nested_rar(written):
                    _extract_inner_rar(archive, written, tree, staging, progress)
        files = sum(len(names) for _, _, names in os.walk(tree))
        entries = sorted(os.listdir(tree))
        conflict = _find_conflict(tree, dest)
        if conflict is not None:
            raise ArchiveError(archive, f"{conflict} already exists as a different kind "
                               "(file/folder) than the archive's member; move it away first")
        _merge(tree, dest)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for folder in created:           # innermost first; rmdir only removes empty ones
            with contextlib.suppress(OSError):
                folder.rmdir()
        raise
    shutil.rmtree(staging, ignore_errors=True)
    record = {"archive": archive.name, "size": stat_before.st_size,
              "mtime_ns": stat_before.st_mtime_ns, "members": members, "files": files,
              "nested": nested, "entries": entries}
    atomic_write_text(marker, json.dumps(record, indent=1) + "\n")
    return dest


# --------------------------------------------------------------------------- CLI


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers extract ARCHIVE DEST [--force] [--no-nested] [--quiet]``."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers extract",
        description="Extract a RAR/zip/tar archive safely; inner .rar files are extracted too.")
    parser.add_argument("archive", type=Path, help="archive file (.rar, .zip, .tar[.gz|.bz2|.xz])")
    parser.add_argument("dest", type=Path, help="folder to extract into (created if missing)")
    parser.add_argument("--force", action="store_true", help="extract again even if already done")
    parser.add_argument("--no-nested", dest="nested", action="store_false",
                        help="keep inner .rar files as they are")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(list(sys.argv[1:] if argv is None else argv))

    already = not args.force and is_extracted(args.archive, args.dest, nested=args.nested)
    try:
        out = extract(args.archive, args.dest, nested=args.nested, force=args.force,
                      progress=not args.quiet)
    except (ArchiveError, OSError) as exc:
        print(f"extract: {exc}", file=sys.stderr)
        return 1
    record = read_marker(args.archive, out) or {}
    verb = "already extracted" if already else "extracted"
    print(f"{verb} {record.get('files', '?')} files from {args.archive} into {out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
