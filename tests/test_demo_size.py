"""The demo size: the presets callers pick between smoke and full hand over to demo, and
the demo size uses (and generates) the generated stand-in without asking the network."""
from __future__ import annotations

import pytest

from helpers.fetch_hmdb51 import choose_source
from helpers.models import ActionMoEConfig, MultiModalConfig
from helpers.settings import get_settings
from helpers.training import TrainConfig


@pytest.fixture
def demo_size(monkeypatch, tmp_path):
    monkeypatch.delenv("SMOKE", raising=False)
    monkeypatch.setenv("HELPERS_SIZE", "demo")
    monkeypatch.setenv("HELPERS_DATA_DIR", str(tmp_path / "data"))


@pytest.mark.parametrize("model", ["moe", "multimodal"])
def test_full_presets_hand_over_to_demo_at_demo_size(demo_size, model):
    assert TrainConfig.full(model, epochs=3) == TrainConfig.demo(model, epochs=3)
    demo = TrainConfig.demo(model)
    assert demo.model_preset == "smoke" and demo.epochs > TrainConfig.smoke(model).epochs
    assert ActionMoEConfig.full(10) == ActionMoEConfig.smoke(10)
    assert MultiModalConfig.full(10) == MultiModalConfig.smoke(10)


def test_full_presets_stay_full_at_full_size(monkeypatch):
    monkeypatch.setenv("SMOKE", "0")
    monkeypatch.delenv("HELPERS_SIZE", raising=False)
    assert TrainConfig.full("moe").model_preset == "full"
    assert ActionMoEConfig.full(10).backbone_width == 64


def test_demo_size_uses_the_generated_data_without_the_network(demo_size):
    choice = choose_source("auto", get_settings(device="cpu"), check_network=True)
    assert choice.source == "synth" and "demo size" in choice.reason
