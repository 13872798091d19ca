"""helpers.download against a local server: resume, restart, verify, skip, fail clearly."""
from __future__ import annotations

import hashlib
import re
import socket
import threading
from pathlib import Path

import numpy as np
import pytest

from helpers.download import (
    ChecksumMismatch,
    DownloadError,
    download,
    main,
    read_sidecar,
    sha256_file,
)
from helpers.hmdb51_official import HMDB51_ARCHIVES, HMDB51_CLASSES
from helpers.http_server import FileServer, RangeRequestHandler

SIZE = 300_000
CUT_AT = 100_000
HINT = "attach the Kaggle HMDB51 dataset or place the archives in data/archives/"
FAST = dict(retries=3, backoff=0.0, timeout=5, progress=False)


def cutting_handler(cuts: int, after: int, *, honour_range: bool = True) -> type[RangeRequestHandler]:
    """A handler whose first ``cuts`` GET bodies stop after ``after`` bytes (then hang up)."""

    class Handler(RangeRequestHandler):
        served = 0
        lock = threading.Lock()

        def send_head(self):  # type: ignore[no-untyped-def]
            if not honour_range and "Range" in self.headers:
                del self.headers["Range"]
            return super().send_head()

        def copyfile(self, source, outputfile):  # type: ignore[no-untyped-def]
            with Handler.lock:
                cut = Handler.served < cuts
                Handler.served += 1
            if not cut:
                super().copyfile(source, outputfile)
                return
            outputfile.write(source.read(after))
            outputfile.flush()
            self.close_connection = True  # the client sees EOF before Content-Length

    return Handler


@pytest.fixture()
def payload() -> bytes:
    return np.random.default_rng(0).integers(0, 256, SIZE, dtype=np.uint8).tobytes()


@pytest.fixture()
def served(tmp_path: Path, payload: bytes) -> Path:
    root = tmp_path / "served"
    root.mkdir()
    (root / "clip.rar").write_bytes(payload)
    return root


def _gets(server: FileServer) -> list[str | None]:
    """Range header of every GET the server saw, in order."""
    return [r.range for r in server.requests if r.method == "GET"]


def test_resumes_with_range_after_the_connection_drops(
    served: Path, tmp_path: Path, payload: bytes
) -> None:
    dest = tmp_path / "out"
    dest.mkdir()
    with FileServer(served, handler_class=cutting_handler(cuts=1, after=CUT_AT)) as srv:
        path = download(srv.url + "clip.rar", dest, **FAST)
        gets = _gets(srv)
    assert path == dest / "clip.rar"
    assert path.read_bytes() == payload
    assert gets == [None, f"bytes={CUT_AT}-"]
    assert not (dest / "clip.rar.part").exists()


def test_resumes_through_several_drops(served: Path, tmp_path: Path, payload: bytes) -> None:
    # Each attempt brings new bytes, so three drops fit in retries=1.
    with FileServer(served, handler_class=cutting_handler(cuts=3, after=50_000)) as srv:
        path = download(srv.url + "clip.rar", tmp_path / "x.rar", retries=1, backoff=0, progress=False)
        gets = _gets(srv)
    assert path.read_bytes() == payload
    assert gets == [None, "bytes=50000-", "bytes=100000-", "bytes=150000-"]


def test_server_ignoring_range_restarts_from_zero(served: Path, tmp_path: Path, payload: bytes) -> None:
    handler = cutting_handler(cuts=1, after=CUT_AT, honour_range=False)
    with FileServer(served, handler_class=handler) as srv:
        path = download(srv.url + "clip.rar", tmp_path / "clip.rar", **FAST)
        gets = _gets(srv)
    assert gets == [None, f"bytes={CUT_AT}-"]  # asked to resume, got a 200 instead
    assert path.read_bytes() == payload


def test_leftover_part_file_is_resumed(served: Path, tmp_path: Path, payload: bytes) -> None:
    (tmp_path / "clip.rar.part").write_bytes(payload[:1234])
    with FileServer(served) as srv:
        path = download(srv.url + "clip.rar", tmp_path, **FAST)
        gets = _gets(srv)
    assert gets == ["bytes=1234-"]
    assert path.read_bytes() == payload


def test_complete_part_file_is_verified_without_a_body(served: Path, tmp_path: Path, payload: bytes) -> None:
    (tmp_path / "clip.rar.part").write_bytes(payload)
    with FileServer(served) as srv:
        path = download(srv.url + "clip.rar", tmp_path, **FAST)
        gets = _gets(srv)
    assert gets == ["bytes=300000-"]  # answered 416 */300000: nothing left to fetch
    assert path.read_bytes() == payload


def test_writes_a_sha256sum_sidecar(served: Path, tmp_path: Path, payload: bytes) -> None:
    with serve_url(served) as url:
        path = download(url + "clip.rar", tmp_path, **FAST)
    sidecar = tmp_path / "clip.rar.sha256"
    digest = hashlib.sha256(payload).hexdigest()
    assert sidecar.read_text() == f"{digest}  clip.rar\n"
    assert read_sidecar(path) == digest == sha256_file(path)


def test_no_sidecar_when_a_checksum_is_given(served: Path, tmp_path: Path, payload: bytes) -> None:
    with serve_url(served) as url:
        download(url + "clip.rar", tmp_path, md5=hashlib.md5(payload).hexdigest(), **FAST)
    assert not (tmp_path / "clip.rar.sha256").exists()


@pytest.mark.parametrize("kind", ["sha256", "md5", "size"])
def test_mismatch_raises_and_leaves_nothing(served: Path, tmp_path: Path, payload: bytes, kind: str) -> None:
    wrong = {"sha256": "0" * 64, "md5": "f" * 32, "size": SIZE + 1}[kind]
    with serve_url(served) as url, pytest.raises(ChecksumMismatch, match=kind if kind != "size" else "bytes"):
        download(url + "clip.rar", tmp_path, **{kind: wrong}, **FAST)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served"]


def test_correct_checksums_pass(served: Path, tmp_path: Path, payload: bytes) -> None:
    with serve_url(served) as url:
        path = download(
            url + "clip.rar", tmp_path / "a" / "b.rar", size=SIZE,
            sha256=hashlib.sha256(payload).hexdigest().upper(),  # case does not matter
            md5=hashlib.md5(payload).hexdigest(), **FAST,
        )
    assert path == tmp_path / "a" / "b.rar" and path.read_bytes() == payload


@pytest.mark.parametrize("known", ["sidecar", "sha256", "md5"])
def test_second_call_makes_no_get(served: Path, tmp_path: Path, payload: bytes, known: str) -> None:
    checks = {
        "sidecar": {},
        "sha256": {"sha256": hashlib.sha256(payload).hexdigest(), "size": SIZE},
        "md5": {"md5": hashlib.md5(payload).hexdigest()},
    }[known]
    with FileServer(served) as srv:
        first = download(srv.url + "clip.rar", tmp_path, **checks, **FAST)
        assert len(_gets(srv)) == 1
        second = download(srv.url + "clip.rar", tmp_path, **checks, **FAST)
        assert len(_gets(srv)) == 1
    assert first == second and second.read_bytes() == payload


def test_corrupted_file_is_downloaded_again(served: Path, tmp_path: Path, payload: bytes) -> None:
    with FileServer(served) as srv:
        path = download(srv.url + "clip.rar", tmp_path, **FAST)
        path.write_bytes(b"x" + payload[1:])  # same size, sidecar no longer matches
        download(srv.url + "clip.rar", tmp_path, **FAST)
        assert len(_gets(srv)) == 2
    assert path.read_bytes() == payload


def test_404_is_a_download_error_with_the_hint(served: Path, tmp_path: Path) -> None:
    with FileServer(served) as srv:
        with pytest.raises(DownloadError, match="404") as info:
            download(srv.url + "missing.rar", tmp_path, hint=HINT, **FAST)
        assert len(_gets(srv)) == 1  # not retried
    assert not isinstance(info.value, ChecksumMismatch)
    assert HINT in str(info.value)
    assert sorted(p.name for p in tmp_path.iterdir()) == ["served"]


def test_refused_connection_is_a_download_error(tmp_path: Path) -> None:
    with socket.socket() as sock:  # a port nobody listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    with pytest.raises(DownloadError, match=r"refused.*2 attempts.*Hint: " + re.escape(HINT)):
        download(f"http://127.0.0.1:{port}/clip.rar", tmp_path, retries=1, backoff=0.01,
                 timeout=2, progress=False, hint=HINT)
    assert list(tmp_path.iterdir()) == []


def test_unresolvable_host_fails_without_retrying(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    def no_dns(*args: object, **kwargs: object) -> None:
        raise socket.gaierror(socket.EAI_NONAME, "Name or service not known")

    monkeypatch.setattr(socket, "getaddrinfo", no_dns)
    with pytest.raises(DownloadError, match="could not be resolved"):
        download("http://archive.invalid/clip.rar", tmp_path, retries=5, backoff=60, progress=False)


def test_dest_folder_without_a_name_in_the_url_is_refused(tmp_path: Path) -> None:
    with pytest.raises(DownloadError, match="file name"):
        download("http://127.0.0.1:9/", tmp_path, progress=False)


def test_progress_bar_starts_at_the_resumed_bytes(
    served: Path, tmp_path: Path, payload: bytes, capsys: pytest.CaptureFixture[str]
) -> None:
    (tmp_path / "clip.rar.part").write_bytes(payload[:CUT_AT])
    with serve_url(served) as url:
        download(url + "clip.rar", tmp_path, retries=0, progress=True)
    frames = capsys.readouterr().err.replace("\r", "\n").splitlines()
    bars = [f for f in frames if f.startswith("clip.rar:")]
    assert bars[0].startswith("clip.rar:  33%") and "100%" in bars[-1]


def test_hash_helpers_match_hashlib(tmp_path: Path, payload: bytes) -> None:
    path = tmp_path / "p.bin"
    path.write_bytes(payload)
    assert sha256_file(path) == hashlib.sha256(payload).hexdigest()


def test_bad_checksum_argument_is_a_value_error(tmp_path: Path) -> None:
    with pytest.raises(ValueError, match="sha256 must be 64 hex digits"):
        download("http://127.0.0.1:9/a.rar", tmp_path, sha256="abc", progress=False)


def test_cli_exit_codes(served: Path, tmp_path: Path, payload: bytes, capsys: pytest.CaptureFixture[str]) -> None:
    with serve_url(served) as url:
        good = ["--sha256", hashlib.sha256(payload).hexdigest(), "--size", str(SIZE), "--no-progress"]
        assert main([url + "clip.rar", str(tmp_path / "ok.rar"), *good]) == 0
        out, err = capsys.readouterr()
        assert out.strip() == str(tmp_path / "ok.rar") and err == ""

        assert main([url + "clip.rar", str(tmp_path / "bad.rar"), "--md5", "0" * 32, "--no-progress"]) == 1
        out, err = capsys.readouterr()
        assert out == "" and err.startswith("download: ") and len(err.splitlines()) == 1

        assert main([url + "gone.rar", str(tmp_path / "gone.rar"), "--no-progress", "--retries", "0"]) == 1
        assert "404" in capsys.readouterr().err
    assert (tmp_path / "ok.rar").read_bytes() == payload
    assert not (tmp_path / "bad.rar").exists() and not (tmp_path / "bad.rar.part").exists()


def test_hmdb51_official_are_well_formed() -> None:
    assert [s.filename for s in HMDB51_ARCHIVES] == ["hmdb51_org.rar", "test_train_splits.rar"]
    for source in HMDB51_ARCHIVES:
        assert source.url.endswith("/wp-content/uploads/2013/10/" + source.filename)
        assert source.sha256 is None or re.fullmatch(r"[0-9a-f]{64}", source.sha256)
        assert source.md5 is None or re.fullmatch(r"[0-9a-f]{32}", source.md5)
    by_name = {s.filename: s for s in HMDB51_ARCHIVES}
    assert by_name["test_train_splits.rar"].md5 == "15e67781e70dcfbdce2d7dbb9b3344b5"
    assert by_name["hmdb51_org.rar"].size == 2_124_008_126
    assert len(HMDB51_CLASSES) == len(set(HMDB51_CLASSES)) == 51
    assert list(HMDB51_CLASSES) == sorted(HMDB51_CLASSES)
    assert {"brush_hair", "climb_stairs", "sword_exercise", "wave"} <= set(HMDB51_CLASSES)


def serve_url(root: Path):  # type: ignore[no-untyped-def]
    from helpers.http_server import serve_directory

    return serve_directory(root)
