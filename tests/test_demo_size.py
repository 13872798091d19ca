"""The demo size: ``for_size`` picks the active size's preset (each preset builds what its
name says, whatever the size), and the demo size uses (and generates) the generated
stand-in without asking the network."""
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
def test_for_size_picks_the_demo_presets_at_demo_size(demo_size, model):
    assert TrainConfig.for_size(model, epochs=3) == TrainConfig.demo(model, epochs=3)
    demo = TrainConfig.demo(model)
    assert demo.model_preset == "smoke" and demo.epochs > TrainConfig.smoke(model).epochs
    assert ActionMoEConfig.for_size(10) == ActionMoEConfig.demo(10) == ActionMoEConfig.smoke(10)
    assert MultiModalConfig.for_size(10) == MultiModalConfig.demo(10)


@pytest.mark.parametrize("model", ["moe", "multimodal"])
def test_full_presets_build_full_models_at_every_size(demo_size, model):
    """At the demo size a full checkpoint (or a caller that asks for full) still gets the
    full-size model, never the demo miniature under its name."""
    assert TrainConfig.full(model).model_preset == "full"
    assert TrainConfig.for_size(model, "full") == TrainConfig.full(model)
    assert ActionMoEConfig.full(10).backbone_layers == (2, 2, 2, 2) and ActionMoEConfig.full(10).num_experts == 8
    assert MultiModalConfig.full(10).caption_decoder == "gpt2"
    assert MultiModalConfig.full(10) != MultiModalConfig.demo(10)


def test_for_size_follows_the_active_size_and_rejects_other_names(monkeypatch):
    monkeypatch.setenv("SMOKE", "0")
    monkeypatch.delenv("HELPERS_SIZE", raising=False)
    assert TrainConfig.for_size("moe") == TrainConfig.full("moe")
    monkeypatch.setenv("SMOKE", "1")
    assert TrainConfig.for_size("moe").model_preset == "smoke" and TrainConfig.for_size("moe").epochs == 2
    with pytest.raises(ValueError, match="smoke, demo, full"):
        TrainConfig.for_size("moe", "large")


def test_use_parameters_sets_the_size_for_every_helper(monkeypatch):
    from helpers.notebook_setup import use_parameters
    from helpers.settings import size

    monkeypatch.setenv("SMOKE", "1")  # restored after the test, as HELPERS_SIZE is
    monkeypatch.setenv("HELPERS_SIZE", "smoke")
    assert use_parameters(size="demo").size == "demo" and size() == "demo"
    assert use_parameters(size="smoke").smoke and size() == "smoke"
    with pytest.raises(ValueError):
        use_parameters(size="huge")


def test_demo_size_uses_the_generated_data_without_the_network(demo_size):
    choice = choose_source("auto", get_settings(device="cpu"), check_network=True)
    assert choice.source == "synth" and "demo size" in choice.reason
