"""Tiny generated datasets and configs for the training tests (importable by any test).

The data is the project's own stand-in (:mod:`helpers.synth`), packed and extracted
like HMDB51 (RAR archives, split files) or written in the Kinetics layout, only smaller
than the smoke preset so each test file stays within its time budget.
"""
from __future__ import annotations

from pathlib import Path

from helpers.archives import extract
from helpers.synth import SynthConfig, generate
from helpers.training import TrainConfig


def make_hmdb51(base: Path, **overrides) -> Path:
    """Generated clips in the HMDB51 layout; returns the clips folder (the split files
    sit beside it, where :func:`helpers.training.experiment.find_splits_dir` looks)."""
    values = dict(classes=3, clips_per_class=6, seconds=1.6, fps=10, size=(64, 48))
    values.update(overrides)
    config = SynthConfig.smoke(**values)
    generate("hmdb51", base / "origin", config, progress=False, workers=1)
    extract(base / "origin" / "hmdb51_org.rar", base / "videos", nested=True, progress=False)
    extract(base / "origin" / "test_train_splits.rar", base / "splits", nested=False, progress=False)
    return base / "videos"


def make_kinetics(base: Path, **overrides) -> Path:
    """Generated clips with audio and captions in the Kinetics layout; returns the folder."""
    values = dict(classes=3, clips_per_class=6, seconds=1.6, fps=10, size=(64, 48))
    values.update(overrides)
    generate("kinetics", base / "kinetics", SynthConfig.smoke(**values), progress=False, workers=1)
    return base / "kinetics"


def tiny_config(model: str = "moe", **overrides) -> TrainConfig:
    """The smoke preset shrunk further for mechanics tests: 4 frames of 16 px, batch 4."""
    values = dict(epochs=2, batch_size=4, num_frames=4, resize=(18, 24), crop=16, seed=0)
    values.update(overrides)
    return TrainConfig.smoke(model, **values)


def use_tmp_settings(monkeypatch, tmp_path: Path) -> None:
    """Point data/models/runs at ``tmp_path`` (no test writes into the repository)."""
    monkeypatch.setenv("HELPERS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("HELPERS_MODELS_DIR", str(tmp_path / "models"))
    monkeypatch.setenv("HELPERS_RUNS_DIR", str(tmp_path / "runs"))
    monkeypatch.setenv("HELPERS_DEVICE", "cpu")
