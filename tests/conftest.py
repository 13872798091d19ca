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
