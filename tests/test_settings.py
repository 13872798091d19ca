"""The settings module: smoke switch, Kaggle detection, paths, device."""
from __future__ import annotations

from pathlib import Path

import pytest

from helpers import settings as S


@pytest.mark.parametrize(
    ("smoke", "ci", "expected"),
    [
        (None, None, False),
        ("1", None, True),
        ("0", "true", False),  # SMOKE=0 wins over CI
        (None, "true", True),
        (None, "github-actions", True),
        (None, "false", False),
        ("yes", "0", True),
    ],
)
def test_smoke_switch(monkeypatch, smoke, ci, expected):
    for name, value in (("SMOKE", smoke), ("CI", ci)):
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)
    assert S.is_smoke() is expected
    assert S.get_settings(device="cpu").smoke is expected


def test_bad_smoke_value_is_a_clear_error(monkeypatch):
    monkeypatch.setenv("SMOKE", "maybe")
    with pytest.raises(ValueError, match="SMOKE|maybe"):
        S.is_smoke()


def test_paths_default_to_repo_and_follow_overrides(monkeypatch, tmp_path):
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    monkeypatch.delenv("HELPERS_DATA_DIR", raising=False)
    monkeypatch.delenv("HELPERS_MODELS_DIR", raising=False)
    s = S.get_settings(device="cpu")
    root = Path(__file__).resolve().parent.parent
    assert s.root == root and (root / "helpers" / "settings.py").exists()
    assert s.data_dir == root / "data" and s.models_dir == root / "models"
    assert not s.kaggle
    monkeypatch.setenv("HELPERS_DATA_DIR", str(tmp_path / "d"))
    monkeypatch.setenv("HELPERS_SEED", "7")
    s = S.get_settings(device="cpu")
    assert s.data_dir == tmp_path / "d"
    assert s.synth_dir == tmp_path / "d" / "synth"
    assert s.cache_dir == tmp_path / "d" / "cache"
    assert s.seed == 7


def test_kaggle_outputs_go_to_kaggle_working(monkeypatch):
    monkeypatch.setenv("KAGGLE_KERNEL_RUN_TYPE", "Interactive")
    monkeypatch.delenv("HELPERS_DATA_DIR", raising=False)
    monkeypatch.delenv("HELPERS_MODELS_DIR", raising=False)
    s = S.get_settings(device="cpu")
    assert s.kaggle
    assert s.data_dir == Path("/kaggle/working/data")
    assert s.models_dir == Path("/kaggle/working/models")


def test_find_kaggle_hmdb51_archives_and_extracted(tmp_path):
    assert S.find_kaggle_hmdb51(tmp_path / "absent") is None
    assert S.find_kaggle_hmdb51(tmp_path) is None
    archives = tmp_path / "hmdb51-archives" / "raw"
    archives.mkdir(parents=True)
    (archives / "hmdb51_org.rar").write_bytes(b"Rar!")
    assert S.find_kaggle_hmdb51(tmp_path) == archives

    other = tmp_path / "other"
    clips = other / "some-user-hmdb51" / "HMDB51" / "brush_hair"
    clips.mkdir(parents=True)
    (clips / "a.avi").write_bytes(b"x")
    assert S.find_kaggle_hmdb51(other) == clips.parent


def test_device_override(monkeypatch):
    monkeypatch.setenv("HELPERS_DEVICE", "cpu")
    assert S.pick_device() == "cpu"
    assert S.pick_device("cuda:1") == "cuda:1"


def test_notebook_parameters_seed_python_numpy_and_torch(monkeypatch):
    """A notebook's parameters cell reseeds everything through the package's one seed
    function: the same seed gives the same draws from all three generators."""
    import random

    import numpy as np
    import torch

    from helpers.notebook_setup import use_parameters

    monkeypatch.setenv("HELPERS_SEED", "0")  # restored after the test (use_parameters writes it)

    def draws():
        return random.random(), float(np.random.rand()), float(torch.rand(()))

    use_parameters(seed=11)
    first = draws()
    use_parameters(seed=11)
    assert draws() == first
    use_parameters(seed=12)
    assert draws() != first


def _set_env(monkeypatch, **values: str | None) -> None:
    """Set or delete (None) each variable for this test."""
    for name, value in values.items():
        if value is None:
            monkeypatch.delenv(name, raising=False)
        else:
            monkeypatch.setenv(name, value)


@pytest.mark.parametrize(
    ("smoke", "size", "ci", "expected"),
    [
        (None, None, None, "full"),
        (None, "demo", None, "demo"),
        (None, "DEMO ", None, "demo"),
        (None, "full", "true", "full"),   # HELPERS_SIZE wins over CI
        (None, "demo", "true", "demo"),
        (None, None, "true", "smoke"),    # CI alone: smoke, as before
        ("1", "demo", None, "smoke"),     # SMOKE=1 always means smoke
        ("1", "full", None, "smoke"),
        ("0", "demo", "true", "demo"),    # SMOKE=0 rules smoke out; HELPERS_SIZE picks among the rest
        ("0", None, "true", "full"),
        (None, "smoke", None, "smoke"),
    ],
)
def test_size_switch(monkeypatch, smoke, size, ci, expected):
    _set_env(monkeypatch, SMOKE=smoke, HELPERS_SIZE=size, CI=ci)
    assert S.size() == expected
    assert S.is_smoke() is (expected == "smoke")
    settings = S.get_settings(device="cpu")
    assert settings.size == expected and settings.smoke is (expected == "smoke")


def test_size_reads_a_given_mapping_and_names_its_setter():
    assert S.size({"HELPERS_SIZE": "demo"}) == "demo"
    assert S.size_set_by({}) is None
    assert S.size_set_by({"CI": "false"}) is None
    assert S.size_set_by({"CI": "true"}) == "CI"
    assert S.size_set_by({"HELPERS_SIZE": "full", "CI": "true"}) == "HELPERS_SIZE"
    assert S.size_set_by({"SMOKE": "0", "HELPERS_SIZE": "demo"}) == "SMOKE"


@pytest.mark.parametrize("environ", [{"HELPERS_SIZE": "medium"}, {"HELPERS_SIZE": "medium", "SMOKE": "1"}])
def test_bad_size_is_a_clear_error(environ):
    with pytest.raises(ValueError, match="HELPERS_SIZE='medium'.*smoke, demo, full"):
        S.size(environ)


def test_smoke_off_with_smoke_size_is_a_clear_error():
    with pytest.raises(ValueError, match="SMOKE=0.*HELPERS_SIZE=smoke"):
        S.size({"SMOKE": "0", "HELPERS_SIZE": "smoke"})


def test_settings_built_by_hand_take_their_size_from_smoke(tmp_path):
    kw = dict(root=tmp_path, data_dir=tmp_path, models_dir=tmp_path, runs_dir=tmp_path, kaggle=False, seed=0)
    assert S.Settings(smoke=True, **kw).size == "smoke"
    assert S.Settings(smoke=False, **kw).size == "full"
    assert S.Settings(smoke=False, size="demo", **kw).size == "demo"
