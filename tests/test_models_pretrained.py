"""Offline-safe weight loading: the cache is used without network, a dead or silent host
ends in a fast fallback (never a hang), a reachable host (127.0.0.1) really downloads."""
import hashlib
import http.server
import logging
import socket
import threading
from contextlib import contextmanager
from types import SimpleNamespace

import pytest
import torch

from helpers.models import pretrained


@pytest.fixture(autouse=True)
def fresh(tmp_path, monkeypatch):
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "torch"))
    monkeypatch.delenv("HELPERS_OFFLINE", raising=False)
    pretrained.clear_probe_cache()
    yield
    pretrained.clear_probe_cache()


def small_state() -> dict:
    torch.manual_seed(0)
    return torch.nn.Linear(3, 2).state_dict()


def test_cached_checkpoint_is_used_without_network(monkeypatch):
    weights = SimpleNamespace(url="https://download.invalid/models/tiny-0123abcd.pth")
    path = pretrained.torch_hub_checkpoint(weights.url)
    path.parent.mkdir(parents=True)
    torch.save(small_state(), path)
    monkeypatch.setattr(pretrained, "host_reachable", lambda *a, **k: pytest.fail("network probed"))
    state = pretrained.torchvision_state_dict(weights, "tiny")
    assert set(state) == {"weight", "bias"} and torch.equal(state["weight"], small_state()["weight"])


def test_refused_connection_falls_back_with_one_warning(caplog):
    with socket.socket() as s:  # a port nobody listens on
        s.bind(("127.0.0.1", 0))
        port = s.getsockname()[1]
    weights = SimpleNamespace(url=f"http://127.0.0.1:{port}/tiny.pth")
    with caplog.at_level(logging.WARNING, logger="helpers.models"):
        assert pretrained.torchvision_state_dict(weights, "tiny weights") is None
        assert pretrained.torchvision_state_dict(weights, "tiny weights") is None
    msgs = [r.getMessage() for r in caplog.records]
    assert len(msgs) == 1 and "tiny weights" in msgs[0] and "unreachable" in msgs[0]


def test_silent_host_times_out_instead_of_hanging(monkeypatch, caplog):
    """A host that accepts the connection and never answers (a captive proxy, a firewall
    that drops packets) must end in the fallback after the socket timeout."""
    server = socket.socket()
    server.bind(("127.0.0.1", 0))
    server.listen(8)  # the kernel completes the handshake; nobody ever reads or replies
    monkeypatch.setattr(pretrained, "DOWNLOAD_SOCKET_TIMEOUT_S", 0.3)
    weights = SimpleNamespace(url=f"http://127.0.0.1:{server.getsockname()[1]}/tiny.pth")
    try:
        with caplog.at_level(logging.WARNING, logger="helpers.models"):
            assert pretrained.torchvision_state_dict(weights, "silent") is None
    finally:
        server.close()
    assert "timed out" in caplog.records[0].getMessage()
    assert not pretrained.torch_hub_checkpoint(weights.url).exists()


@contextmanager
def serving(root):
    """An HTTP server on 127.0.0.1 for the files in ``root``; yields its base URL."""
    handler = lambda *a: http.server.SimpleHTTPRequestHandler(*a, directory=str(root))  # noqa: E731
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    httpd.RequestHandlerClass.log_message = lambda *a: None
    threading.Thread(target=httpd.serve_forever, daemon=True).start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}"
    finally:
        httpd.shutdown()
        httpd.server_close()


def hashed_weights_file(root, digest_prefix=None) -> str:
    """``small_state()`` saved as ``tiny-<sha256 prefix>.pth`` (torchvision's naming); a
    given ``digest_prefix`` names it with a wrong one. Returns the file name."""
    root.mkdir()
    tmp = root / "tiny.tmp"
    torch.save(small_state(), tmp)
    name = f"tiny-{digest_prefix or hashlib.sha256(tmp.read_bytes()).hexdigest()[:8]}.pth"
    tmp.rename(root / name)
    return name


def test_reachable_host_downloads_and_caches(tmp_path):
    name = hashed_weights_file(tmp_path / "www")
    with serving(tmp_path / "www") as base:
        weights = SimpleNamespace(url=f"{base}/{name}")
        state = pretrained.torchvision_state_dict(weights, "tiny")
    assert torch.equal(state["bias"], small_state()["bias"])
    assert pretrained.torch_hub_checkpoint(weights.url).is_file()


def test_download_with_wrong_hash_is_refused_and_not_cached(tmp_path, caplog):
    name = hashed_weights_file(tmp_path / "www", digest_prefix="00000000")
    with serving(tmp_path / "www") as base, caplog.at_level(logging.WARNING, logger="helpers.models"):
        weights = SimpleNamespace(url=f"{base}/{name}")
        assert pretrained.torchvision_state_dict(weights, "tiny") is None
    assert "hash" in caplog.records[0].getMessage()
    assert not pretrained.torch_hub_checkpoint(weights.url).exists()


def test_download_path_checks_the_hash(monkeypatch):
    calls = []
    monkeypatch.setattr(pretrained, "host_reachable", lambda *a, **k: True)
    monkeypatch.setattr(torch.hub, "load_state_dict_from_url", lambda url, **kw: calls.append((url, kw)) or {})
    url = "https://download.invalid/models/tiny-0123abcd.pth"
    assert pretrained.torchvision_state_dict(SimpleNamespace(url=url), "tiny") == {}
    assert calls and calls[0][0] == url and calls[0][1]["check_hash"] is True


def test_offline_flag_skips_the_network(monkeypatch, caplog):
    monkeypatch.setenv("HELPERS_OFFLINE", "1")
    monkeypatch.setattr(pretrained, "host_reachable", lambda *a, **k: pytest.fail("network probed"))
    with caplog.at_level(logging.WARNING, logger="helpers.models"):
        assert pretrained.torchvision_state_dict(SimpleNamespace(url="https://x.invalid/a.pth"), "a") is None
    assert "HELPERS_OFFLINE" in caplog.records[0].getMessage()


def test_hf_uses_local_files_only_when_offline(monkeypatch, caplog):
    calls = []

    def factory(name, **kwargs):
        calls.append((name, kwargs))
        raise OSError("not in cache")

    monkeypatch.setattr(pretrained, "host_reachable", lambda *a, **k: False)
    with caplog.at_level(logging.WARNING, logger="helpers.models"):
        assert pretrained.hf_from_pretrained(factory, "org/model", revision="main") is None
    assert calls == [("org/model", {"local_files_only": True, "revision": "main"})]
    assert "org/model" in caplog.records[0].getMessage()


def test_multimodal_pretrained_request_offline_builds_fallbacks(monkeypatch, caplog):
    """Every pretrained part requested, no network: the model still builds, from the
    offline configurations, with one message per missing weights."""
    from helpers.models import MultiModalConfig, MultiModalVideoModel, make_demo_batch

    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    monkeypatch.setenv("HF_HOME", str(pretrained.torch_hub_checkpoint("x/y").parents[2] / "hf"))
    monkeypatch.setattr(pretrained, "host_reachable", lambda *a, **k: False)
    batch = make_demo_batch(1, 2, 32)
    cfg = MultiModalConfig.smoke(vision_pretrained=True, audio_pretrained=True, caption_decoder="gpt2",
                                 caption_pretrained=True).with_captions(batch["caption"])
    with caplog.at_level(logging.WARNING, logger="helpers.models"):
        model = MultiModalVideoModel(cfg)
    assert model.weights_sources == {"vision": "random init", "audio": "random init", "caption": "random init"}
    assert type(model.caption).__name__ == "SmallCaptionDecoder"  # GPT-2 unavailable: the small decoder
    text = " | ".join(r.getMessage() for r in caplog.records)
    for name in ("mobilenet_v3_small", "facebook/wav2vec2-base", "gpt2"):
        assert name in text
    assert model.forward_batch(batch)["logits"].shape == (1, 5)


def test_hf_cache_follows_the_environment_at_call_time(monkeypatch, tmp_path):
    """huggingface_hub fixes its cache path at import; an HF_HOME set later still counts."""
    calls = []
    monkeypatch.setenv("HF_HOME", str(tmp_path / "hf"))
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    monkeypatch.setattr(pretrained, "host_reachable", lambda *a, **k: False)
    pretrained.hf_from_pretrained(lambda name, **kw: calls.append(kw), "org/model")
    assert calls == [{"local_files_only": True, "cache_dir": str(tmp_path / "hf" / "hub")}]
