"""The notebooks' stand-in resized from the environment (HELPERS_SYNTH_CLASSES/_CLIPS):
the config it asks for, a separate home so the usual stand-in is never mixed up with
a rehearsal's, and an extracted copy replaced when its archives change."""
from __future__ import annotations

import dataclasses
import json

import pytest

from helpers.hmdb51_official import HMDB51_CLASSES
from helpers.synth import SynthConfig
from helpers.synth.overrides import env_overrides

pytestmark = pytest.mark.timeout(300)


def test_env_overrides_pick_names_classes_and_clips():
    assert env_overrides({}) == {}
    assert env_overrides({"HELPERS_SYNTH_CLASSES": "51", "HELPERS_SYNTH_CLIPS": "4"}) == {
        "classes": 51, "names": "hmdb51", "clips_per_class": 4}
    assert env_overrides({"HELPERS_SYNTH_CLASSES": "13"}) == {"classes": 13, "names": "hmdb51"}
    assert env_overrides({"HELPERS_SYNTH_CLASSES": "12"}) == {"classes": 12, "names": "motion"}
    for bad in ({"HELPERS_SYNTH_CLASSES": "52"}, {"HELPERS_SYNTH_CLASSES": "many"},
                {"HELPERS_SYNTH_CLIPS": "2"}):
        with pytest.raises(ValueError, match=next(iter(bad))):
            env_overrides(bad)


@pytest.fixture
def data_env(tmp_path, monkeypatch):
    monkeypatch.setenv("HELPERS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMOKE", "1")
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    for name in ("HELPERS_SYNTH_CLASSES", "HELPERS_SYNTH_CLIPS", "HELPERS_SEED"):
        monkeypatch.delenv(name, raising=False)
    return monkeypatch


def test_synth_config_follows_the_environment(data_env):
    from helpers import fetch_hmdb51
    from helpers.settings import get_settings

    plain = fetch_hmdb51.synth_config(get_settings(device="cpu"))
    assert plain == SynthConfig.smoke() and fetch_hmdb51.synth_home() == get_settings().synth_dir
    data_env.setenv("HELPERS_SYNTH_CLASSES", "51")
    data_env.setenv("HELPERS_SYNTH_CLIPS", "4")
    s = get_settings(device="cpu")
    rehearsal = fetch_hmdb51.synth_config(s)
    assert rehearsal == dataclasses.replace(SynthConfig.smoke(), names="hmdb51", classes=51, clips_per_class=4)
    assert rehearsal.class_names == HMDB51_CLASSES
    assert fetch_hmdb51.synth_home(s) == s.synth_dir / "variants" / "hmdb51-51x4"
    assert fetch_hmdb51.paths_for("synth", s).root == s.synth_dir / "variants" / "hmdb51-51x4" / "hmdb51"
    data_env.setenv("SMOKE", "0")
    assert fetch_hmdb51.synth_config(get_settings(device="cpu")).classes == 51


@pytest.fixture
def fast_smoke(data_env):
    """The smoke preset at 1.6 s, 10 fps, 64×48 so the notebook-01 pipeline runs in seconds."""
    fast = dict(seconds=1.6, fps=10, size=(64, 48))
    data_env.setattr(SynthConfig, "smoke", classmethod(lambda cls, **o: cls(**{**fast, **o})))
    return data_env


def test_the_rehearsal_copy_is_kept_apart_and_never_mixed_up(fast_smoke):
    from helpers import fetch_hmdb51
    from helpers.settings import get_settings

    plain = fetch_hmdb51.fetch_hmdb51("synth", get_settings(device="cpu"), progress=False)
    assert len(fetch_hmdb51.summarize(plain).classes) == 6

    fast_smoke.setenv("HELPERS_SYNTH_CLASSES", "13")
    fast_smoke.setenv("HELPERS_SYNTH_CLIPS", "3")
    s = get_settings(device="cpu")
    with pytest.raises(fetch_hmdb51.DatasetNotReady, match="not the one these settings ask for"):
        fetch_hmdb51.active_dataset(s)  # the recorded 6-class copy is not handed out
    paths = fetch_hmdb51.fetch_hmdb51("synth", s, progress=False)
    summary = fetch_hmdb51.summarize(paths)
    assert summary.classes == sorted(HMDB51_CLASSES[:13]) and set(summary.clips_per_class.values()) == {3}
    assert fetch_hmdb51.active_dataset(s) == paths and paths.root != plain.root
    annotations = json.loads((fetch_hmdb51.kinetics_dir(s) / "annotations.json").read_text())
    assert {r["class_name"] for r in annotations} == set(HMDB51_CLASSES[:13])
    assert fetch_hmdb51.is_extracted(plain)  # the usual copy is still there

    fast_smoke.delenv("HELPERS_SYNTH_CLASSES")
    fast_smoke.delenv("HELPERS_SYNTH_CLIPS")
    with pytest.raises(fetch_hmdb51.DatasetNotReady, match="not the one these settings ask for"):
        fetch_hmdb51.active_dataset(get_settings(device="cpu"))


def test_a_changed_config_replaces_the_extracted_copy(fast_smoke):
    from helpers import fetch_hmdb51
    from helpers.settings import get_settings

    fast_smoke.setenv("HELPERS_SYNTH_CLASSES", "3")
    fast_smoke.setenv("HELPERS_SYNTH_CLIPS", "3")
    first = fetch_hmdb51.fetch_hmdb51("synth", get_settings(device="cpu"), progress=False)
    clip = next(first.videos_dir.glob("move_left/*.avi"))
    before = clip.read_bytes()
    fast_smoke.setenv("HELPERS_SEED", "1")  # same folder, other archives
    again = fetch_hmdb51.fetch_hmdb51("synth", get_settings(device="cpu"), progress=False)
    assert again == first and clip.read_bytes() != before
