"""Caches filled offline with random weights of the real architectures: the loaders take
the "weights found" path from them, a second fill changes nothing, and without them every
model falls back to random initialisation."""
import time
from pathlib import Path

import pytest
import torch

from helpers.models import pretrained
from helpers.models.weight_cache import (
    GPT2_CONFIG,
    GPT2_EOS,
    HF_ENTRIES,
    cache_env,
    fill_weight_caches,
    gpt2_tokenizer_parts,
    hf_repo_dir,
    torchvision_entries,
)


def r2plus1d_file(root: Path) -> Path:
    weights = torchvision_entries()["r2plus1d_18"][1]
    return root / "torch" / "hub" / "checkpoints" / Path(weights.url).name


def test_files_carry_the_real_names_and_layout(filled_weight_caches):
    for builder, weights in torchvision_entries().values():
        path = filled_weight_caches / "torch" / "hub" / "checkpoints" / Path(weights.url).name
        state = torch.load(path, weights_only=True)
        assert state.keys() == builder(weights=None).state_dict().keys()
    for entry in HF_ENTRIES:
        repo = hf_repo_dir(filled_weight_caches / "huggingface" / "hub", entry.repo)
        commit = (repo / "refs" / "main").read_text()
        assert len(commit) == 40 and int(commit, 16) >= 0
        assert all((repo / "snapshots" / commit / f).is_file() for f in entry.files())
    assert not list(filled_weight_caches.rglob(".*"))  # no temporary build or part file left


def test_second_fill_is_quick_and_changes_nothing(filled_weight_caches):
    def snapshot() -> dict:
        return {p: (p.stat().st_ino, p.stat().st_mtime_ns) for p in filled_weight_caches.rglob("*") if p.is_file()}

    before = snapshot()
    start = time.perf_counter()
    env = fill_weight_caches(filled_weight_caches)
    assert time.perf_counter() - start < 2.0
    assert snapshot() == before
    assert env == cache_env(filled_weight_caches) == {
        "TORCH_HOME": str(filled_weight_caches / "torch"), "HF_HOME": str(filled_weight_caches / "huggingface"),
        "HF_HUB_OFFLINE": "1", "HELPERS_OFFLINE": "1"}


def test_unknown_group_is_refused(tmp_path):
    with pytest.raises(ValueError, match="torchvision"):
        fill_weight_caches(tmp_path, ["timm"])
    assert not any(tmp_path.iterdir())


def test_tokenizer_ids_fit_the_published_embedding():
    vocab, merges = gpt2_tokenizer_parts()
    assert vocab[GPT2_EOS] == GPT2_CONFIG["eos_token_id"] == GPT2_CONFIG["vocab_size"] - 1
    assert len(vocab) < GPT2_CONFIG["vocab_size"] and max(vocab.values()) < GPT2_CONFIG["vocab_size"]
    assert merges and all(a + b in vocab for a, b in merges)


@pytest.fixture
def no_network(monkeypatch):
    monkeypatch.setattr(pretrained, "host_reachable", lambda *a, **k: pytest.fail("network probed"))


def test_r2plus1d_loads_the_cached_weights(weight_cache_env, filled_weight_caches, no_network):
    from helpers.models.backbones import build_r2plus1d

    model = build_r2plus1d(pretrained=True, temporal_padding="zeros")
    assert model.weights_source == "torchvision KINETICS400_V1"
    saved = torch.load(r2plus1d_file(filled_weight_caches), weights_only=True)
    loaded = model.state_dict()
    assert all(torch.equal(loaded[k], v) for k, v in saved.items() if not k.startswith("fc."))


def test_frame_encoder_loads_the_cached_weights(weight_cache_env, no_network):
    from helpers.models.backbones import FrameEncoder

    assert FrameEncoder("efficientnet_b0", pretrained=True).weights_source == "torchvision IMAGENET1K_V1"
    mobilevit = FrameEncoder("mobilevit", pretrained=True)
    assert mobilevit.weights_source == "apple/mobilevit-small" and mobilevit.out_dim == 640


def test_wav2vec2_loads_the_cached_base_model(weight_cache_env, no_network):
    from helpers.models.audio import Wav2Vec2AudioEncoder

    enc = Wav2Vec2AudioEncoder(256, pretrained=True)
    assert enc.weights_source == "facebook/wav2vec2-base"
    assert enc.net.config.hidden_size == 768 and enc.net.config.num_hidden_layers == 12


def test_gpt2_loads_with_its_tokenizer(weight_cache_env, no_network):
    from helpers.models.captioning import GPT2CaptionDecoder

    dec = GPT2CaptionDecoder(256, 4, pretrained=True)
    assert dec.weights_source == "gpt2" and dec.tokenizer is not None
    assert dec.net.config.n_layer == 12 and dec.net.config.add_cross_attention
    assert dec.eos_id == dec.tokenizer.eos_token_id == 50256
    caption = "a person waves a hand, then jumps over the fence"
    ids = dec.tokenizer(caption)["input_ids"]
    assert max(ids) < dec.net.config.vocab_size and dec.tokenizer.decode(ids) == caption


def test_without_the_caches_every_model_falls_back(tmp_path, monkeypatch, no_network):
    from helpers.models.audio import Wav2Vec2AudioEncoder
    from helpers.models.backbones import FrameEncoder, build_r2plus1d
    from helpers.models.captioning import GPT2CaptionDecoder

    for key, value in cache_env(tmp_path / "empty").items():
        monkeypatch.setenv(key, value)
    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    pretrained.clear_probe_cache()
    assert build_r2plus1d(pretrained=True).weights_source == "random init"
    assert FrameEncoder("efficientnet_b0", pretrained=True).weights_source == "random init"
    assert Wav2Vec2AudioEncoder(256, pretrained=True).weights_source == "random init"
    dec = GPT2CaptionDecoder(256, 4, pretrained=True)
    assert dec.tokenizer is None and dec.weights_source == "random init"


def test_cli_prints_the_exports(filled_weight_caches, capsys, monkeypatch):
    from helpers.cli import main

    monkeypatch.delenv("HF_HUB_CACHE", raising=False)
    monkeypatch.delenv("HUGGINGFACE_HUB_CACHE", raising=False)
    assert main(["fill-weight-caches", str(filled_weight_caches), "--only", "torchvision"]) == 0
    out = capsys.readouterr().out
    assert "never for results" in out
    for key, value in cache_env(filled_weight_caches).items():
        assert f"export {key}={value}" in out
