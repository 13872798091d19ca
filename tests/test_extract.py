"""helpers.archives.extract: nested RARs, safety, corruption, idempotence, zip/tar, CLI."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import sys
import tarfile
import zipfile
import zlib
from pathlib import Path

import pytest
import rarfile

from helpers.archives import (ArchiveError, MissingExtractorError, UnsafeArchiveMember, extract,
                              is_extracted, main, marker_path, read_marker)
from helpers.rar import MARKER, end_header, file_header, main_header, write_rar

CLASSES = {
    "brush_hair": {"brush_hair/April_09_brush_hair_u_nm_np1_ba_goo_0.avi": b"A" * 70_000,
                   "brush_hair/Blonde_being_brushed_f_nm_np2_ri_med_1.avi": bytes(range(256)) * 4},
    "cartwheel": {"cartwheel/(Rad)Schlag_die_Bank!_cartwheel_f_cm_np1_le_med_0.avi": b"C" * 1234,
                  "cartwheel/empty.avi": b""},
}
EXPECTED = {name: data for files in CLASSES.values() for name, data in files.items()}


def tree(root: Path) -> dict[str, bytes]:
    """Every file under root (marker excluded) → its bytes."""
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in sorted(root.rglob("*"))
            if p.is_file() and not p.name.startswith(".extracted-")}


def make_hmdb_like(folder: Path, *, corrupt_class: str | None = None) -> Path:
    """An outer RAR of per-class RARs, like hmdb51_org.rar; optionally one inner RAR with a bad CRC."""
    inner = []
    for cls, files in CLASSES.items():
        path = write_rar(folder / "inner" / f"{cls}.rar", files.items())
        if cls == corrupt_class:
            data = bytearray(path.read_bytes())
            data[data.index(next(iter(files.values()))) + 10] ^= 0xFF
            path.write_bytes(bytes(data))
        inner.append((f"{cls}.rar", path))
    return write_rar(folder / "hmdb51_org.rar", inner)


@pytest.fixture()
def outer(tmp_path: Path) -> Path:
    return make_hmdb_like(tmp_path / "src")


def assert_untouched(dest: Path) -> None:
    """A failed extraction leaves no class folder, staging folder or marker behind."""
    if dest.exists():
        assert sorted(os.listdir(dest)) == []


# --------------------------------------------------------------------------- nested RAR


def test_nested_rar_extracts_to_exact_tree(tmp_path: Path, outer: Path) -> None:
    dest = tmp_path / "data" / "hmdb51"
    assert extract(outer, dest, progress=False) == dest
    assert tree(dest) == EXPECTED
    assert sorted(os.listdir(dest)) == [".extracted-hmdb51_org.rar.json", "brush_hair", "cartwheel"]
    record = read_marker(outer, dest)
    assert record is not None
    assert (record["members"], record["files"], record["entries"]) == (2, 4, ["brush_hair", "cartwheel"])
    assert record["size"] == outer.stat().st_size and record["mtime_ns"] == outer.stat().st_mtime_ns
    assert is_extracted(outer, dest)


def test_no_nested_keeps_inner_rars(tmp_path: Path, outer: Path) -> None:
    dest = tmp_path / "flat"
    extract(outer, dest, nested=False, progress=True)          # progress on: must not break anything
    assert sorted(tree(dest)) == ["brush_hair.rar", "cartwheel.rar"]
    assert (dest / "brush_hair.rar").read_bytes() == (outer.parent / "inner" / "brush_hair.rar").read_bytes()
    assert not is_extracted(outer, dest, nested=True)


def test_inner_rar_in_a_subfolder_extracts_next_to_itself(tmp_path: Path) -> None:
    inner = write_rar(tmp_path / "cls.rar", [("cls/a.avi", b"a")])
    outer = write_rar(tmp_path / "outer.rar", [("videos/cls.rar", inner), ("videos/readme.txt", b"r")])
    dest = tmp_path / "out"
    extract(outer, dest, progress=False)
    assert tree(dest) == {"videos/cls/a.avi": b"a", "videos/readme.txt": b"r"}


# --------------------------------------------------------------------------- idempotence


def test_second_call_does_nothing(tmp_path: Path, outer: Path) -> None:
    dest = tmp_path / "out"
    extract(outer, dest, progress=False)
    clip = dest / "cartwheel" / "empty.avi"
    os.utime(clip, ns=(1_000_000_000, 1_000_000_000))
    stat = outer.stat()
    # Make the archive unreadable as an archive, same size and mtime: a re-read would raise.
    outer.write_bytes(b"\xff" * stat.st_size)
    os.utime(outer, ns=(stat.st_atime_ns, stat.st_mtime_ns))

    assert extract(outer, dest, progress=False) == dest
    assert clip.stat().st_mtime_ns == 1_000_000_000
    assert tree(dest) == EXPECTED

    with pytest.raises(ArchiveError, match="not a RAR, zip or tar"):
        extract(outer, dest, force=True, progress=False)
    assert not marker_path(outer, dest).exists()               # no longer claims completeness
    assert tree(dest) == EXPECTED                              # earlier output kept, no staging left
    assert sorted(os.listdir(dest)) == ["brush_hair", "cartwheel"]


def test_force_and_changed_archive_extract_again(tmp_path: Path, outer: Path) -> None:
    dest = tmp_path / "out"
    extract(outer, dest, progress=False)
    lost = dest / "brush_hair" / "April_09_brush_hair_u_nm_np1_ba_goo_0.avi"
    lost.unlink()
    extract(outer, dest, progress=False)                       # marker says done: no work
    assert not lost.exists()
    extract(outer, dest, force=True, progress=False)
    assert tree(dest) == EXPECTED

    write_rar(outer, [("new.txt", b"new")])                    # different archive, same name
    extract(outer, dest, progress=False)
    assert (dest / "new.txt").read_bytes() == b"new"
    assert read_marker(outer, dest)["entries"] == ["new.txt"]


def test_deleted_archive_with_marker_counts_as_done(tmp_path: Path, outer: Path) -> None:
    dest = tmp_path / "out"
    extract(outer, dest, progress=False)
    outer.unlink()
    assert extract(outer, dest, progress=False) == dest
    shutil.rmtree(dest / "cartwheel")                          # a top-level entry vanished
    with pytest.raises(FileNotFoundError):
        extract(outer, dest, progress=False)


def test_stale_staging_from_a_killed_run_is_removed(tmp_path: Path, outer: Path) -> None:
    dest = tmp_path / "out"
    stale = dest / ".partial-hmdb51_org.rar-abc123" / "tree" / "brush_hair"
    stale.mkdir(parents=True)
    (stale / "half.avi").write_bytes(b"half")
    extract(outer, dest, progress=False)
    assert tree(dest) == EXPECTED


# --------------------------------------------------------------------------- unsafe members


@pytest.mark.parametrize("evil", ["../evil", "/abs", "a/../../evil", "..\\evil", "C:/evil", "C:\\evil"])
def test_escaping_member_refused_before_writing(tmp_path: Path, evil: str,
                                                monkeypatch: pytest.MonkeyPatch) -> None:
    copies: list[object] = []
    monkeypatch.setattr(shutil, "copyfileobj", lambda *args, **kw: copies.append(args))
    box = tmp_path / "box"
    box.mkdir()
    archive = write_rar(tmp_path / "bad.rar", [("ok/first.txt", b"fine"), (evil, b"pwned")],
                        allow_unsafe_names=True)
    before = sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*"))
    dest = box / "dest"
    with pytest.raises(UnsafeArchiveMember) as info:
        extract(archive, dest, progress=False)
    assert info.value.member == evil.replace("\\", "/") and info.value.path == archive
    assert copies == []                                        # refused before the first byte
    assert not dest.exists()
    assert sorted(p.relative_to(tmp_path) for p in tmp_path.rglob("*")) == before
    assert not Path("/abs").exists() and not Path("/evil").exists()


def test_escaping_member_inside_inner_rar(tmp_path: Path) -> None:
    good = write_rar(tmp_path / "good.rar", [("good/a.avi", b"a")])
    bad = write_rar(tmp_path / "bad.rar", [("bad/a.avi", b"a"), ("../../escape.avi", b"x")],
                    allow_unsafe_names=True)
    outer = write_rar(tmp_path / "outer.rar", [("good.rar", good), ("bad.rar", bad)])
    dest = tmp_path / "nest" / "dest"
    with pytest.raises(UnsafeArchiveMember, match="in bad.rar"):
        extract(outer, dest, progress=False)
    assert not dest.exists()
    assert sorted(os.listdir(tmp_path)) == ["bad.rar", "good.rar", "outer.rar"]  # parent untouched


def _symlink_rar(path: Path) -> Path:
    target = b"/etc/passwd"
    blob = (MARKER + main_header()
            + file_header("link", len(target), zlib.crc32(target), host_os=3, attributes=0o120777)
            + target + end_header())
    path.write_bytes(blob)
    return path


def _tar_with(path: Path, kind: bytes) -> Path:
    with tarfile.open(path, "w") as tf:
        info = tarfile.TarInfo("link")
        info.type, info.linkname = kind, "../../outside"
        tf.addfile(info)
    return path


def _zip_symlink(path: Path) -> Path:
    with zipfile.ZipFile(path, "w") as zf:
        info = zipfile.ZipInfo("link")
        info.create_system = 3
        info.external_attr = 0o120777 << 16
        zf.writestr(info, "../../outside")
    return path


@pytest.mark.parametrize("make", [
    _symlink_rar,
    lambda p: _tar_with(p, tarfile.SYMTYPE),
    lambda p: _tar_with(p, tarfile.LNKTYPE),
    lambda p: _tar_with(p, tarfile.FIFOTYPE),
    _zip_symlink,
], ids=["rar-symlink", "tar-symlink", "tar-hardlink", "tar-fifo", "zip-symlink"])
def test_links_and_special_files_refused(tmp_path: Path, make) -> None:
    archive = make(tmp_path / "links.bin")
    dest = tmp_path / "dest"
    with pytest.raises(UnsafeArchiveMember, match="'link'"):
        extract(archive, dest, progress=False)
    assert not dest.exists()


def test_existing_symlink_in_dest_is_replaced_not_followed(tmp_path: Path, outer: Path) -> None:
    outside = tmp_path / "outside"
    outside.mkdir()
    dest = tmp_path / "dest"
    dest.mkdir()
    (dest / "brush_hair").symlink_to(outside, target_is_directory=True)
    extract(outer, dest, progress=False)
    assert list(outside.iterdir()) == []
    assert not (dest / "brush_hair").is_symlink()
    assert tree(dest) == EXPECTED


# --------------------------------------------------------------------------- corruption


def test_crc_error_in_outer_data(tmp_path: Path, outer: Path) -> None:
    data = bytearray(outer.read_bytes())
    data[data.index(b"C" * 1234) + 600] ^= 0x01               # inside cartwheel.rar's bytes
    bad = tmp_path / "bad.rar"
    bad.write_bytes(bytes(data))
    dest = tmp_path / "dest"
    dest.mkdir()
    with pytest.raises(ArchiveError, match="CRC") as info:
        extract(bad, dest, progress=False)
    assert info.value.path == bad and "cartwheel.rar" in str(info.value)
    assert_untouched(dest)                                     # brush_hair, extracted first, is gone too


def test_crc_error_in_inner_archive(tmp_path: Path) -> None:
    bad = make_hmdb_like(tmp_path / "src", corrupt_class="cartwheel")
    dest = tmp_path / "dest"
    with pytest.raises(ArchiveError, match=r"in cartwheel.rar: .*CRC"):
        extract(bad, dest, progress=False)
    assert not dest.exists()


@pytest.mark.parametrize("keep", [30, 200, -500], ids=["in-file-header", "early-in-data", "late-in-data"])
def test_truncated_archive(tmp_path: Path, outer: Path, keep: int) -> None:
    cut = tmp_path / "cut.rar"
    cut.write_bytes(outer.read_bytes()[:keep])
    dest = tmp_path / "dest"
    with pytest.raises(ArchiveError):
        extract(cut, dest, progress=False)
    assert not dest.exists()


def test_not_an_archive(tmp_path: Path) -> None:
    junk = tmp_path / "junk.rar"
    junk.write_bytes(b"this is not an archive" * 100)
    with pytest.raises(ArchiveError, match="not a RAR, zip or tar"):
        extract(junk, tmp_path / "dest", progress=False)
    assert not (tmp_path / "dest").exists()


# --------------------------------------------------------------------------- missing tool


@pytest.fixture()
def no_rar_tool(monkeypatch: pytest.MonkeyPatch) -> None:
    """Point every rarfile tool at a binary that does not exist."""
    for name in ("UNRAR_TOOL", "UNAR_TOOL", "BSDTAR_TOOL", "SEVENZIP_TOOL", "SEVENZIP2_TOOL"):
        monkeypatch.setattr(rarfile, name, "/nonexistent/" + name.lower())
    monkeypatch.setattr(rarfile, "CURRENT_SETUP", None)


def test_compressed_rar_without_tool_says_what_to_install(tmp_path: Path, no_rar_tool) -> None:
    archive = write_rar(tmp_path / "packed.rar", [("cls/a.avi", b"x" * 100)], method=0x33)
    dest = tmp_path / "dest"
    with pytest.raises(MissingExtractorError) as info:
        extract(archive, dest, progress=False)
    message = str(info.value)
    assert "apt-get install unar" in message and "unrar" in message and str(archive) in message
    assert "Traceback" not in message and not dest.exists()


def test_compressed_inner_rar_without_tool(tmp_path: Path, no_rar_tool) -> None:
    inner = write_rar(tmp_path / "cls.rar", [("cls/a.avi", b"x")], method=0x35)
    outer = write_rar(tmp_path / "outer.rar", [("cls.rar", inner)])    # stored outer: readable
    with pytest.raises(MissingExtractorError, match="in cls.rar: .*apt-get install unar"):
        extract(outer, tmp_path / "dest", progress=False)
    assert not (tmp_path / "dest").exists()


def test_stored_rar_needs_no_tool(tmp_path: Path, outer: Path, no_rar_tool) -> None:
    extract(outer, tmp_path / "dest", progress=False)
    assert tree(tmp_path / "dest") == EXPECTED


@pytest.mark.skipif(shutil.which("unar") is None, reason="unar not installed")
def test_compressed_rar_goes_through_the_tool(tmp_path: Path) -> None:
    # The data is not really compressed, so the tool fails: an ArchiveError, not "missing tool".
    archive = write_rar(tmp_path / "packed.rar", [("a.bin", b"x" * 100)], method=0x33)
    with pytest.raises(ArchiveError) as info:
        extract(archive, tmp_path / "dest", progress=False)
    assert not isinstance(info.value, MissingExtractorError)


# --------------------------------------------------------------------------- zip and tar


def test_zip_round_trip_with_nested_rar(tmp_path: Path) -> None:
    inner = write_rar(tmp_path / "cls.rar", [("cls/a.avi", b"rar inside zip")])
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_DEFLATED) as zf:
        zf.writestr("dir/", b"")
        for name, data in EXPECTED.items():
            zf.writestr(name, data)
        zf.write(inner, "cls.rar")
    dest = tmp_path / "dest"
    extract(archive, dest, progress=False)
    assert tree(dest) == {**EXPECTED, "cls/a.avi": b"rar inside zip"}
    assert (dest / "dir").is_dir()
    assert read_marker(archive, dest)["files"] == len(EXPECTED) + 1


def test_zip_crc_error(tmp_path: Path) -> None:
    archive = tmp_path / "data.zip"
    with zipfile.ZipFile(archive, "w", zipfile.ZIP_STORED) as zf:
        zf.writestr("a/one.bin", b"1" * 5000)
    data = bytearray(archive.read_bytes())
    data[data.index(b"1" * 5000) + 10] = ord("2")
    archive.write_bytes(bytes(data))
    with pytest.raises(ArchiveError, match="CRC"):
        extract(archive, tmp_path / "dest", progress=False)
    assert not (tmp_path / "dest").exists()


@pytest.mark.parametrize("mode", ["w", "w:gz", "w:bz2", "w:xz"])
def test_tar_round_trip(tmp_path: Path, mode: str) -> None:
    archive = tmp_path / f"data.tar.{mode[2:] or 'plain'}"
    with tarfile.open(archive, mode) as tf:
        for name, data in EXPECTED.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(data))
    dest = tmp_path / "dest"
    extract(archive, dest, progress=False)
    assert tree(dest) == EXPECTED


def test_truncated_tar_gz(tmp_path: Path) -> None:
    archive = tmp_path / "data.tar.gz"
    with tarfile.open(archive, "w:gz") as tf:
        for name, data in EXPECTED.items():
            info = tarfile.TarInfo(name)
            info.size = len(data)
            tf.addfile(info, io.BytesIO(os.urandom(len(data))))   # incompressible
    archive.write_bytes(archive.read_bytes()[:40_000])
    with pytest.raises(ArchiveError):
        extract(archive, tmp_path / "dest", progress=False)
    assert not (tmp_path / "dest").exists()


# --------------------------------------------------------------------------- CLI


def test_cli_success_and_repeat(tmp_path: Path, outer: Path, capsys: pytest.CaptureFixture[str]) -> None:
    dest = tmp_path / "dest"
    assert main([str(outer), str(dest), "--quiet"]) == 0
    assert capsys.readouterr().out.strip() == f"extracted 4 files from {outer} into {dest}"
    assert main([str(outer), str(dest), "--quiet"]) == 0
    assert capsys.readouterr().out.startswith("already extracted 4 files")
    assert tree(dest) == EXPECTED


def test_cli_no_nested(tmp_path: Path, outer: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(outer), str(tmp_path / "d"), "--no-nested", "--quiet"]) == 0
    assert "extracted 2 files" in capsys.readouterr().out


def test_cli_corrupt_archive_exits_1_with_one_line(tmp_path: Path, outer: Path) -> None:
    data = bytearray(outer.read_bytes())
    data[data.index(b"A" * 1000) + 5] ^= 0x01
    bad = tmp_path / "bad.rar"
    bad.write_bytes(bytes(data))
    proc = subprocess.run([sys.executable, "-m", "helpers", "extract", str(bad), str(tmp_path / "d"),
                           "--quiet"], capture_output=True, text=True, timeout=60)
    assert proc.returncode == 1
    lines = proc.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("extract: ") and str(bad) in lines[0]
    assert "CRC" in lines[0] and proc.stdout == ""
    assert not (tmp_path / "d").exists()


def test_cli_missing_archive(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "nope.rar"), str(tmp_path / "d"), "--quiet"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "archive not found" in err[0]
