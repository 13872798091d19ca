"""helpers.http_server: files with exact lengths, byte ranges, HEAD, 416, 404, quiet."""
from __future__ import annotations

import re
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import requests

from helpers.http_server import (
    FileServer,
    UnsatisfiableRange,
    main,
    parse_range,
    serve_directory,
)

SIZE = 100_000
REPO_ROOT = Path(__file__).resolve().parents[1]


@pytest.fixture()
def payload() -> bytes:
    return np.random.default_rng(7).integers(0, 256, SIZE, dtype=np.uint8).tobytes()


@pytest.fixture()
def server(tmp_path: Path, payload: bytes):
    (tmp_path / "data.bin").write_bytes(payload)
    (tmp_path / "sub dir").mkdir()
    (tmp_path / "sub dir" / "notes.txt").write_text("hello range\n")
    with FileServer(tmp_path) as srv:
        yield srv


def test_get_whole_file(server: FileServer, payload: bytes) -> None:
    r = requests.get(server.url + "data.bin", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(SIZE)
    assert r.headers["Accept-Ranges"] == "bytes"
    assert "Content-Range" not in r.headers
    assert r.content == payload


def test_head_sends_headers_only(server: FileServer) -> None:
    r = requests.head(server.url + "data.bin", timeout=5)
    assert r.status_code == 200
    assert r.headers["Content-Length"] == str(SIZE)
    assert r.headers["Accept-Ranges"] == "bytes"
    assert r.content == b""
    assert [(q.method, q.path) for q in server.requests] == [("HEAD", "/data.bin")]


@pytest.mark.parametrize(
    ("spec", "start", "end"),
    [
        ("bytes=10-19", 10, 19),
        ("bytes=0-0", 0, 0),
        ("bytes=99990-", 99990, SIZE - 1),
        ("bytes=-5", SIZE - 5, SIZE - 1),
        ("bytes=99000-200000", 99000, SIZE - 1),  # end clipped to the file
    ],
)
def test_range_returns_206_with_exact_bytes(
    server: FileServer, payload: bytes, spec: str, start: int, end: int
) -> None:
    r = requests.get(server.url + "data.bin", headers={"Range": spec}, timeout=5)
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes {start}-{end}/{SIZE}"
    assert r.headers["Content-Length"] == str(end - start + 1)
    assert r.content == payload[start : end + 1]
    assert server.requests[-1].range == spec


def test_head_with_range_announces_the_part(server: FileServer) -> None:
    r = requests.head(server.url + "data.bin", headers={"Range": "bytes=100-"}, timeout=5)
    assert r.status_code == 206
    assert r.headers["Content-Range"] == f"bytes 100-{SIZE - 1}/{SIZE}"
    assert r.headers["Content-Length"] == str(SIZE - 100)
    assert r.content == b""


@pytest.mark.parametrize("spec", ["bytes=100000-", "bytes=123456-200000", "bytes=-0"])
def test_unsatisfiable_range_is_416(server: FileServer, spec: str) -> None:
    r = requests.get(server.url + "data.bin", headers={"Range": spec}, timeout=5)
    assert r.status_code == 416
    assert r.headers["Content-Range"] == f"bytes */{SIZE}"
    assert r.content == b""


def test_multi_range_is_ignored_and_whole_file_sent(server: FileServer, payload: bytes) -> None:
    r = requests.get(server.url + "data.bin", headers={"Range": "bytes=0-1,5-6"}, timeout=5)
    assert r.status_code == 200
    assert r.content == payload


def test_missing_file_is_404(server: FileServer) -> None:
    r = requests.get(server.url + "nope.rar", timeout=5)
    assert r.status_code == 404
    assert requests.head(server.url + "nope.rar", timeout=5).status_code == 404


def test_percent_encoded_names_with_spaces(server: FileServer) -> None:
    url = server.url + "sub%20dir/notes.txt"
    r = requests.get(url, headers={"Range": "bytes=6-"}, timeout=5)
    assert (r.status_code, r.content) == (206, b"range\n")


def test_paths_cannot_escape_the_root(tmp_path: Path) -> None:
    (tmp_path / "secret.txt").write_text("outside")
    (tmp_path / "root").mkdir()
    with FileServer(tmp_path / "root") as srv:
        r = requests.get(srv.url + "../secret.txt", timeout=5)
        raw = _raw_get(srv.port, "/../secret.txt")
    assert r.status_code == 404
    assert raw.startswith(b"HTTP/1.0 404")


def _raw_get(port: int, path: str) -> bytes:
    """A request whose path no client library would normalise."""
    with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
        sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
        chunks = []
        while data := sock.recv(65536):
            chunks.append(data)
    return b"".join(chunks)


def test_serve_directory_yields_base_url_and_frees_the_port(tmp_path: Path, payload: bytes) -> None:
    (tmp_path / "data.bin").write_bytes(payload)
    with serve_directory(tmp_path) as base_url:
        assert re.fullmatch(r"http://127\.0\.0\.1:\d+/", base_url)
        assert requests.get(base_url + "data.bin", timeout=5).content == payload
    with pytest.raises(requests.ConnectionError):
        requests.get(base_url + "data.bin", timeout=2)


def test_file_server_start_stop_are_idempotent(tmp_path: Path) -> None:
    srv = FileServer(tmp_path)
    assert not srv.running and srv.requests == []
    assert srv.start() is srv.start()
    port = srv.port
    assert port > 0 and srv.url == f"http://127.0.0.1:{port}/"
    srv.stop()
    srv.stop()
    assert not srv.running
    with pytest.raises(requests.ConnectionError):
        requests.get(f"http://127.0.0.1:{port}/", timeout=2)


def test_missing_root_is_a_typed_error(tmp_path: Path) -> None:
    with pytest.raises(NotADirectoryError, match="not an existing folder"):
        FileServer(tmp_path / "absent")


def test_client_hanging_up_prints_nothing(server: FileServer, capfd: pytest.CaptureFixture[str]) -> None:
    # Read only the headers of a large body, then drop the connection.
    big = server.root / "big.bin"
    big.write_bytes(b"\0" * (8 * 1024 * 1024))
    with socket.create_connection(("127.0.0.1", server.port), timeout=5) as sock:
        sock.sendall(b"GET /big.bin HTTP/1.0\r\n\r\n")
        assert sock.recv(1024).startswith(b"HTTP/1.0 200")
    requests.get(server.url + "data.bin", timeout=5)
    requests.get(server.url + "missing", timeout=5)
    out, err = capfd.readouterr()
    assert (out, err) == ("", "")


@pytest.mark.parametrize(
    ("header", "expected"),
    [
        (None, None),
        ("", None),
        ("bytes=0-9", (0, 9)),
        ("BYTES = 5 - ", (5, 9)),
        ("bytes=-3", (7, 9)),
        ("bytes=-30", (0, 9)),
        ("bytes=8-100", (8, 9)),
        ("bytes=5-2", None),  # invalid: ignored
        ("bytes=0-1,4-5", None),  # multi-range: ignored
        ("items=0-1", None),
    ],
)
def test_parse_range(header: str | None, expected: tuple[int, int] | None) -> None:
    assert parse_range(header, 10) == expected


@pytest.mark.parametrize("header", ["bytes=10-", "bytes=10-20", "bytes=-0"])
def test_parse_range_unsatisfiable(header: str) -> None:
    with pytest.raises(UnsatisfiableRange):
        parse_range(header, 10)


def test_main_rejects_a_missing_folder(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main([str(tmp_path / "absent")]) == 1
    err = capsys.readouterr().err
    assert err.startswith("serve-folder: ") and "absent" in err and len(err.splitlines()) == 1


def test_cli_serves_until_interrupted(tmp_path: Path, payload: bytes) -> None:
    import signal

    (tmp_path / "data.bin").write_bytes(payload)
    proc = subprocess.Popen(
        [sys.executable, "-m", "helpers", "serve-folder", str(tmp_path)],
        cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        # SIGINT as at a terminal, even under a shell that ignores it (a background job)
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_DFL),
    )
    try:
        line = proc.stdout.readline()
        match = re.search(r"(http://127\.0\.0\.1:\d+/)", line)
        assert match, line
        r = requests.get(match.group(1) + "data.bin", headers={"Range": "bytes=1-3"}, timeout=5)
        assert (r.status_code, r.content) == (206, payload[1:4])
    finally:
        proc.send_signal(signal.SIGINT)
        _, err = proc.communicate(timeout=60)  # a hang guard: Python starts slowly on a loaded machine
    assert proc.returncode == 0
    assert err == ""
