"""Shared test set-up: headless plotting, and no accidental network or GPU use."""
from __future__ import annotations

import os

import pytest

os.environ.setdefault("MPLBACKEND", "Agg")
os.environ.setdefault("HF_HUB_OFFLINE", "1")  # never reach for the Hugging Face hub in tests
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")


@pytest.fixture(scope="session")
def smoke_model(tmp_path_factory):
    """A trained smoke MoE checkpoint shared by the inference and widget tests."""
    from smoke_model import build_smoke_model

    return build_smoke_model(tmp_path_factory.getbasetemp() / "smoke_model")


@pytest.fixture(scope="session")
def predictor(smoke_model):
    from helpers.inference import load_predictor

    return load_predictor(smoke_model.checkpoint)


@pytest.fixture(scope="session")
def filled_weight_caches(tmp_path_factory):
    """A cache root holding RANDOM weights of the real pretrained architectures
    (:mod:`helpers.models.weight_cache`), built once per session (~10 s, ~1 GB on disk)."""
    from helpers.models.weight_cache import fill_weight_caches

    root = tmp_path_factory.getbasetemp() / "weight_caches"
    fill_weight_caches(root)
    return root


@pytest.fixture
def weight_cache_env(filled_weight_caches, monkeypatch):
    """The loaders pointed at ``filled_weight_caches`` (offline) for one test; yields the env."""
    from helpers.models import pretrained
    from helpers.models.weight_cache import cache_env

    env = cache_env(filled_weight_caches)
    for key, value in env.items():
        monkeypatch.setenv(key, value)
    for key in ("HF_HUB_CACHE", "HUGGINGFACE_HUB_CACHE"):  # they would win over HF_HOME
        monkeypatch.delenv(key, raising=False)
    pretrained.clear_probe_cache()
    yield env
    pretrained.clear_probe_cache()
