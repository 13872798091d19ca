"""helpers.serving: the real service on 127.0.0.1 with the trained smoke checkpoint,
talked to with a real HTTP client (requests, raw sockets for slow and broken uploads)."""
from __future__ import annotations

import json
import re
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest
import requests

from video_factory import corrupt, make_video, truncate

REPO_ROOT = Path(__file__).resolve().parent.parent
LIMIT = 50_000  # the test service's upload limit in bytes


@pytest.fixture(scope="module")
def clips(tmp_path_factory) -> dict[str, Path]:
    d = tmp_path_factory.mktemp("serve_clips")
    mp4 = make_video(d / "clip.mp4", "mp4-h264", num_frames=40)
    avi = make_video(d / "clip.avi", "avi-mpeg4", num_frames=40)
    big = make_video(d / "big.avi", "avi-mpeg4", num_frames=120, size=(320, 240))
    assert big.stat().st_size > LIMIT > max(mp4.stat().st_size, avi.stat().st_size)
    (d / "notes.txt").write_text("these are meeting notes, not a video\n" * 20)
    (d / "empty.mp4").write_bytes(b"")
    (d / "codec.avi").write_bytes(avi.read_bytes().replace(b"FMP4", b"QQQQ"))  # a fourcc no decoder knows
    return {"mp4": mp4, "avi": avi, "big": big, "text": d / "notes.txt", "empty": d / "empty.mp4",
            "truncated": truncate(mp4, d / "cut.mp4", 0.5), "damaged": corrupt(avi, d / "damaged.avi", 0.2),
            "codec": d / "codec.avi"}


@pytest.fixture(scope="module")
def service(smoke_model, tmp_path_factory):
    from helpers.serving import start_service

    root = tmp_path_factory.mktemp("serve_uploads")
    svc = start_service(smoke_model.checkpoint, runtime="torch", rl_sampler=None, max_upload_bytes=LIMIT,
                        upload_root=root, workers=2, queue_size=4)
    yield svc
    svc.stop()
    assert not svc.upload_dir.exists() and list(root.iterdir()) == []  # nothing left behind


def post(service, path: Path, name: str | None = None, mime: str = "application/octet-stream", **params):
    with open(path, "rb") as f:
        return requests.post(f"{service.url}/predict", files={"file": (name or path.name, f, mime)},
                             params=params, timeout=60)


def test_prediction_equals_predict_video(service, predictor, smoke_model, clips):
    from helpers.inference import predict_video

    for path in (smoke_model.avi, clips["mp4"]):
        r = post(service, path, top_k=2)
        assert r.status_code == 200, r.text
        got = r.json()
        want = predict_video(path, model=predictor, top_k=2, keep_frames=False)
        assert [t["label"] for t in got["top"]] == [n for n, _ in want.top]
        assert [t["probability"] for t in got["top"]] == pytest.approx([p for _, p in want.top], abs=1e-6)
        assert got["frames"]["indices"] == want.frame_indices
        assert got["label"] == want.label and got["file"] == path.name and got["runtime"] == "torch"
        assert set(got["timings_ms"]) >= {"decode", "model", "total", "upload", "queue"}
        assert "caption" not in got  # a video-only model
    assert post(service, smoke_model.avi).json()["label"] == smoke_model.best_class
    assert list(service.upload_dir.iterdir()) == []


def test_health_model_and_docs(service, smoke_model):
    health = requests.get(f"{service.url}/health", timeout=10).json()
    assert health["status"] == "ok" and health["workers"] == 2 and health["in_flight"] == 0
    info = requests.get(f"{service.url}/model", timeout=10).json()
    assert info["classes"] == smoke_model.class_names and info["checkpoint"] == str(smoke_model.checkpoint)
    assert info["input_shape"] == [3, 8, 24, 24] and info["runtime"] == "torch" and info["name"] == "moe"
    assert requests.get(f"{service.url}/docs", timeout=10).status_code == 200
    spec = requests.get(f"{service.url}/openapi.json", timeout=10).json()
    assert "multipart/form-data" in spec["paths"]["/predict"]["post"]["requestBody"]["content"]


@pytest.mark.parametrize("kind, status, code, words", [
    ("text", 415, "not_a_video", "not a video"),
    ("empty", 400, "empty", "empty"),
    ("truncated", 422, "truncated", "truncated"),
    ("damaged", 422, "damaged", "damaged"),
    ("codec", 415, "unsupported_codec", "unsupported codec"),
    ("big", 413, "too_large", "too large"),
])
def test_bad_videos_get_their_status_and_message(service, clips, kind, status, code, words):
    r = post(service, clips[kind], mime="text/plain" if kind == "text" else "video/mp4")
    assert r.status_code == status, r.text
    body = r.json()
    assert body["error"] == code and words in body["message"] and clips[kind].name in body["message"]
    assert str(service.upload_dir) not in body["message"]
    assert list(service.upload_dir.iterdir()) == []
    assert requests.get(f"{service.url}/health", timeout=10).json()["in_flight"] == 0


def test_bad_requests_get_a_json_reason(service, clips):
    url = f"{service.url}/predict"
    r = requests.post(url, data=b"raw bytes", headers={"Content-Type": "video/mp4"}, timeout=10)
    assert (r.status_code, r.json()["error"]) == (400, "not_multipart")
    r = requests.post(url, files={"video": ("clip.mp4", b"abc")}, timeout=10)
    assert (r.status_code, r.json()["error"]) == (400, "no_file") and "'file'" in r.json()["message"]
    for params, field in (({"top_k": 0}, "top_k"), ({"runtime": "tensorrt"}, "runtime"), ({"sampler": "x"}, "sampler")):
        r = post(service, clips["mp4"], **params)
        assert (r.status_code, r.json()["error"]) == (422, "invalid_parameter") and field in r.json()["message"]
    r = post(service, clips["mp4"], sampler="rl")  # this service has no RL sampler
    assert (r.status_code, r.json()["error"]) == (409, "sampler_unavailable")
    assert list(service.upload_dir.iterdir()) == []


def test_a_client_name_never_becomes_a_path(service, clips, tmp_path):
    r = post(service, clips["mp4"], name="../../../../tmp/evil/..\\x.mp4")
    assert r.status_code == 200 and "/" not in r.json()["file"] and "\\" not in r.json()["file"]
    assert not Path("/tmp/evil").exists() and list(service.upload_dir.iterdir()) == []


def _multipart(path: Path, boundary: str = "testboundary") -> bytes:
    head = (f"--{boundary}\r\nContent-Disposition: form-data; name=\"file\"; filename=\"{path.name}\"\r\n"
            "Content-Type: video/mp4\r\n\r\n").encode()
    return head + path.read_bytes() + f"\r\n--{boundary}--\r\n".encode()


def _open_upload(url: str, body: bytes, send: int) -> socket.socket:
    """A raw connection that sends the headers and the first ``send`` bytes of ``body``."""
    host, port = re.match(r"http://([\d.]+):(\d+)", url).groups()
    sock = socket.create_connection((host, int(port)), timeout=30)
    sock.sendall((f"POST /predict HTTP/1.1\r\nHost: {host}\r\nContent-Type: multipart/form-data; "
                  f"boundary=testboundary\r\nContent-Length: {len(body)}\r\n\r\n").encode() + body[:send])
    return sock


def _wait_in_flight(url: str, n: int, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while requests.get(f"{url}/health", timeout=10).json()["in_flight"] != n:
        assert time.monotonic() < deadline, f"in_flight never became {n}"
        time.sleep(0.05)


def test_an_interrupted_upload_leaves_nothing(service, clips):
    body = _multipart(clips["mp4"])
    sock = _open_upload(service.url, body, len(body) // 2)
    _wait_in_flight(service.url, 1)
    assert len(list(service.upload_dir.iterdir())) == 1  # the partial file, in the service's folder
    sock.close()
    _wait_in_flight(service.url, 0)
    assert list(service.upload_dir.iterdir()) == []
    assert post(service, clips["mp4"]).status_code == 200  # and the service still answers


def test_full_queue_gets_503_with_retry_after(smoke_model, clips, tmp_path):
    from helpers.serving import start_service

    with start_service(smoke_model.checkpoint, runtime="torch", rl_sampler=None, workers=1, queue_size=0,
                       upload_root=tmp_path) as svc:
        body = _multipart(clips["mp4"])
        slow = _open_upload(svc.url, body, 100)  # holds the only slot while it uploads
        try:
            _wait_in_flight(svc.url, 1)
            r = post(svc, clips["mp4"])
            assert r.status_code == 503 and r.headers["Retry-After"] == "1" and r.json()["error"] == "busy"
            slow.sendall(body[100:])
            reply = b""
            while b"\r\n\r\n" not in reply or not reply.rstrip().endswith(b"}"):
                chunk = slow.recv(65536)
                if not chunk:
                    break
                reply += chunk
            assert reply.startswith(b"HTTP/1.1 200"), reply[:200]
            assert json.loads(reply.split(b"\r\n\r\n", 1)[1])["top"]
        finally:
            slow.close()
        assert requests.get(f"{svc.url}/health", timeout=10).json()["refused"] == 1
    assert list(tmp_path.iterdir()) == []


def test_a_crashed_worker_is_restarted(smoke_model, clips, tmp_path):
    import os

    from helpers.serving import start_service

    with start_service(smoke_model.checkpoint, runtime="torch", rl_sampler=None, workers=1,
                       upload_root=tmp_path) as svc:
        worker = svc.state.pool.models[0]
        first = worker.pid
        assert first != os.getpid()  # the model runs outside the service's process
        os.kill(first, signal.SIGKILL)
        r = post(svc, clips["mp4"])
        assert r.status_code == 500 and r.json()["error"] == "internal_error" and "restarted" in r.json()["message"]
        r = post(svc, clips["mp4"])
        assert r.status_code == 200 and r.json()["top"] and worker.pid != first
    assert list(tmp_path.iterdir()) == []


def test_pool_admits_workers_plus_queue():
    from helpers.serving import ModelPool, PoolFull

    pool = ModelPool(lambda i: f"model{i}", workers=2, queue_size=1, retry_after=3)
    try:
        held = [pool.admit() for _ in range(3)]
        with pytest.raises(PoolFull) as err:
            pool.admit()
        assert err.value.retry_after == 3 and pool.in_flight == 3
        held[0].release()
        held[0].release()  # twice is once
        with pool.admit():
            assert pool.in_flight == 3
        assert pool.in_flight == 2
    finally:
        pool.close()


def test_a_model_takes_as_many_calls_at_once_as_it_says():
    import asyncio
    import threading

    from helpers.serving import ModelPool

    class Pipelined:
        concurrent_calls = 2

    async def two_calls(pool: ModelPool) -> list[bool]:
        both_inside = threading.Barrier(2, timeout=2)

        def call(_model) -> bool:
            try:
                both_inside.wait()
                return True
            except threading.BrokenBarrierError:
                return False

        return list(await asyncio.gather(pool.run(call), pool.run(call)))

    for model, expected in ((Pipelined(), [True, True]), ("plain", [False, False])):
        pool = ModelPool(lambda _i: model, workers=1)
        try:
            assert asyncio.run(two_calls(pool)) == expected
        finally:
            pool.close()


def test_multimodal_answer_has_caption_and_sync_score(tmp_path):
    from helpers.inference import predict_video, predictor_from_model
    from helpers.models import MultiModalConfig, MultiModalVideoModel
    from helpers.serving.worker import answer

    video = make_video(tmp_path / "tone.mp4", "mp4-h264", num_frames=30, audio_tone=(0.4, 440.0))
    cfg = MultiModalConfig.smoke(3).with_captions(["a box grows", "a person moves left"])
    p = predictor_from_model(MultiModalVideoModel(cfg), ["a", "b", "c"], num_frames=4, resize=(32, 40), crop=32)
    result = predict_video(video, p, top_k=2, keep_frames=False)
    assert isinstance(result.caption, str) and 0.0 <= result.sync_score <= 1.0
    out = answer(result, "tone.mp4", "", None)
    assert out["caption"] == result.caption and out["sync_score"] == result.sync_score


def test_a_clip_with_sound_goes_to_the_multimodal_model(smoke_model, tmp_path, monkeypatch):
    import helpers.video
    from helpers.inference import predictor_from_model
    from helpers.models import MultiModalConfig, MultiModalVideoModel
    from helpers.serving.worker import ModelWorker

    cfg = MultiModalConfig.smoke(3).with_captions(["a box grows", "a person moves left"])
    sound = predictor_from_model(MultiModalVideoModel(cfg).eval(), ["a", "b", "c"], num_frames=4, resize=(32, 40),
                                 crop=32)
    worker = ModelWorker(smoke_model.checkpoint, "cpu", runtime="torch", rl_sampler=None, with_sound=sound)
    assert worker.describe()["with_sound"] == sound.name
    loud = make_video(tmp_path / "tone.mp4", "mp4-h264", num_frames=30, audio_tone=(0.4, 440.0))
    quiet = make_video(tmp_path / "quiet.mp4", "mp4-h264", num_frames=30)
    opened = []
    real_open = helpers.video.open_video
    monkeypatch.setattr(helpers.video, "open_video", lambda *a, **k: opened.append(a[0]) or real_open(*a, **k))
    out = worker.predict(loud, "tone.mp4", top_k=2, runtime=None, sampler="uniform")
    assert len(opened) == 1  # the header that routes the clip is the one predict_video reads
    assert out["model"] == sound.name and {t["label"] for t in out["top"]} <= {"a", "b", "c"}
    assert isinstance(out["caption"], str) and 0.0 <= out["sync_score"] <= 1.0 and "has sound" in out["note"]
    out = worker.predict(quiet, "quiet.mp4", top_k=2, runtime=None, sampler="uniform")
    assert out["model"] == worker.base.name and "caption" not in out and "silent" in out["note"]
    video_only = ModelWorker(smoke_model.checkpoint, "cpu", runtime="torch", rl_sampler=None,
                             with_sound=tmp_path / "none.pth")
    assert video_only.sound is None and "no multi-modal model at" in video_only.describe()["with_sound_note"]
    assert "note" not in video_only.predict(loud, "tone.mp4", top_k=2, runtime=None, sampler="uniform")


def test_cli_serves_until_interrupted(smoke_model, clips):
    proc = subprocess.Popen([sys.executable, "-m", "helpers", "serve", "--checkpoint", str(smoke_model.checkpoint),
                             "--port", "0", "--runtime", "torch", "--rl-sampler", "none"],
                            cwd=REPO_ROOT, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
    try:
        line = proc.stdout.readline()
        match = re.search(r"at (http://127\.0\.0\.1:\d+)", line)
        assert match, (line, proc.stderr.read() if proc.poll() is not None else "")
        url = match.group(1)
        assert requests.get(f"{url}/health", timeout=10).json()["status"] == "ok"
        with open(clips["mp4"], "rb") as f:
            r = requests.post(f"{url}/predict", files={"file": f}, timeout=60)
        assert r.status_code == 200 and r.json()["top"]
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=30)
    assert proc.returncode == 0


def test_cli_says_when_there_is_no_checkpoint(tmp_path, capsys):
    from helpers.serving import main

    assert main(["--checkpoint", str(tmp_path / "none.pth"), "--port", "0"]) == 3
    assert "no trained model" in capsys.readouterr().err
