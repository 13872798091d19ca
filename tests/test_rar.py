"""The RAR 4 writer: what it writes must read back byte for byte through rarfile and unar."""
from __future__ import annotations

import io
import os
import shutil
import subprocess
import zlib
from datetime import datetime
from pathlib import Path

import pytest
import rarfile

from helpers.rar import (DEFAULT_TIMESTAMP, MARKER, METHOD_STORED, dos_time, end_header,
                         file_header, main_header, write_rar)

needs_unar = pytest.mark.skipif(shutil.which("unar") is None or shutil.which("lsar") is None,
                                reason="unar/lsar not installed")


@pytest.fixture()
def members(tmp_path: Path) -> dict[str, bytes | Path]:
    """A top-level file, one in a subfolder streamed from disk (> 64 KiB), an empty one, a non-ASCII name."""
    big = tmp_path / "src" / "big.bin"
    big.parent.mkdir()
    big.write_bytes(os.urandom(200_003))
    return {
        "top.txt": b"hello rar\n",
        "brush_hair/clip one.avi": big,
        "empty.bin": b"",
        "caf\u00e9/na\u00efve.txt": "ünïcödé".encode(),
    }


def _bytes_of(data: bytes | Path) -> bytes:
    return data.read_bytes() if isinstance(data, Path) else data


def test_rarfile_reads_back_exact_names_and_bytes(tmp_path: Path, members) -> None:
    archive = write_rar(tmp_path / "t.rar", members.items())
    with rarfile.RarFile(archive, errors="strict") as rf:
        rf.testrar()                      # every data CRC checks out
        assert rf.namelist() == list(members)
        for info in rf.infolist():
            assert info.compress_type == METHOD_STORED
            assert info.file_size == info.compress_size == len(_bytes_of(members[info.filename]))
            assert info.date_time == (2011, 11, 11, 0, 0, 0)
            assert rf.read(info) == _bytes_of(members[info.filename])
        assert rf.getinfo("brush_hair/clip one.avi").file_size == 200_003


@needs_unar
def test_unar_extracts_exact_names_and_bytes(tmp_path: Path, members) -> None:
    archive = write_rar(tmp_path / "t.rar", members.items())
    out = tmp_path / "unar-out"
    subprocess.run(["unar", "-q", "-D", "-o", str(out), str(archive)], check=True, timeout=60)
    got = {p.relative_to(out).as_posix(): p.read_bytes() for p in out.rglob("*") if p.is_file()}
    assert got == {name: _bytes_of(data) for name, data in members.items()}

    listed = subprocess.run(["lsar", "-t", str(archive)], capture_output=True, text=True, timeout=60)
    assert listed.returncode == 0, listed.stdout + listed.stderr
    assert "4 passed, 0 failed" in listed.stdout


@needs_unar
def test_unar_notices_a_flipped_data_byte(tmp_path: Path) -> None:
    """The CRC field we write is the one unar checks (not just something rarfile agrees with)."""
    payload = bytes(range(256)) * 8
    data = bytearray(write_rar(tmp_path / "t.rar", [("a.bin", payload)]).read_bytes())
    data[data.index(payload) + 100] ^= 0x01
    bad = tmp_path / "bad.rar"
    bad.write_bytes(bytes(data))
    listed = subprocess.run(["lsar", "-t", str(bad)], capture_output=True, text=True, timeout=60)
    assert listed.returncode != 0
    assert "0 passed, 1 failed" in listed.stdout


def test_output_is_deterministic_and_streaming_equals_bytes(tmp_path: Path, members) -> None:
    first = write_rar(tmp_path / "a.rar", members.items()).read_bytes()
    second = write_rar(tmp_path / "b.rar", members.items()).read_bytes()
    as_bytes = write_rar(tmp_path / "c.rar", [(n, _bytes_of(d)) for n, d in members.items()]).read_bytes()
    assert first == second == as_bytes
    later = write_rar(tmp_path / "d.rar", members.items(), timestamp=datetime(2020, 2, 29, 13, 37, 58))
    assert later.read_bytes() != first and len(later.read_bytes()) == len(first)
    with rarfile.RarFile(later) as rf:
        assert rf.getinfo("top.txt").date_time == (2020, 2, 29, 13, 37, 58)


def test_block_bytes_match_what_winrar_writes(tmp_path: Path) -> None:
    # Marker, main and end blocks of an archive made by WinRAR 3.x/4.x, byte for byte.
    assert MARKER == bytes.fromhex("526172211a0700")
    assert main_header() == bytes.fromhex("cf90730000 0d00 0000 00000000")
    assert end_header() == bytes.fromhex("c43d7b00400700")
    archive = write_rar(tmp_path / "t.rar", [("a.txt", b"abc")])
    header = file_header("a.txt", 3, zlib.crc32(b"abc"))
    assert archive.read_bytes() == MARKER + main_header() + header + b"abc" + end_header()
    # HEAD_CRC = low 16 bits of CRC32 over the header after the field; size field matches.
    assert int.from_bytes(header[:2], "little") == zlib.crc32(header[2:]) & 0xFFFF
    assert int.from_bytes(header[5:7], "little") == len(header) == 32 + len("a.txt")
    assert header[2] == 0x74 and int.from_bytes(header[3:5], "little") & 0x8000


def test_header_crc_is_checked_by_rarfile(tmp_path: Path) -> None:
    data = bytearray(write_rar(tmp_path / "t.rar", [("a.txt", b"abc")]).read_bytes())
    name_at = data.index(b"a.txt")
    data[name_at] = ord("b")              # name changes, header CRC no longer matches
    with pytest.raises(rarfile.BadRarFile, match="CRC"):
        rarfile.RarFile(io.BytesIO(bytes(data)), errors="strict")


def test_sizes_beyond_4_gib_use_the_large_flag() -> None:
    size = (5 << 30) + 7
    blob = MARKER + main_header() + file_header("huge.bin", size, 0x12345678)
    info = rarfile.RarFile(io.BytesIO(blob)).infolist()[0]
    assert (info.filename, info.file_size, info.compress_size, info.CRC) == ("huge.bin", size, size, 0x12345678)
    assert info.flags & 0x0100


def test_method_relabels_header_only(tmp_path: Path) -> None:
    archive = write_rar(tmp_path / "m3.rar", [("x.bin", b"q" * 10)], method=0x33)
    with rarfile.RarFile(archive) as rf:
        assert rf.getinfo("x.bin").compress_type == 0x33
    assert b"q" * 10 in archive.read_bytes()


@pytest.mark.parametrize("name", ["../evil", "/abs", "a/../../b", "C:/x", "", "a//b"])
def test_unsafe_names_are_refused_unless_allowed(tmp_path: Path, name: str) -> None:
    with pytest.raises(ValueError, match="unsafe or empty"):
        write_rar(tmp_path / "t.rar", [(name, b"x")])
    assert list(tmp_path.iterdir()) == []     # nothing left behind, not even a .part file


def test_hostile_names_can_be_written_for_tests(tmp_path: Path) -> None:
    archive = write_rar(tmp_path / "t.rar", [("../evil", b"x"), ("/abs", b"y")], allow_unsafe_names=True)
    assert rarfile.RarFile(archive).namelist() == ["../evil", "/abs"]


def test_write_is_atomic(tmp_path: Path) -> None:
    target = write_rar(tmp_path / "t.rar", [("a", b"old")])
    old = target.read_bytes()
    with pytest.raises(FileNotFoundError):
        write_rar(target, [("a", b"new"), ("b", tmp_path / "missing.bin")])
    assert target.read_bytes() == old          # previous archive untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == ["t.rar"]


def test_dos_time_packs_fields() -> None:
    assert dos_time(DEFAULT_TIMESTAMP) == (31 << 25) | (11 << 21) | (11 << 16)
    assert dos_time(datetime(1980, 1, 1, 23, 59, 59)) == (1 << 21) | (1 << 16) | (23 << 11) | (59 << 5) | 29
    with pytest.raises(ValueError):
        dos_time(datetime(1979, 12, 31))
