"""Notebook 01's pipeline end to end on the generated stand-in: choose the source,
generate and serve the official-format archives on 127.0.0.1, download, extract the
nested RARs, record, summarize; plus the source choice rules."""
from __future__ import annotations

import json
import time
from dataclasses import replace
from pathlib import Path

import pytest

from helpers import fetch_hmdb51
from helpers.settings import get_settings


@pytest.fixture
def smoke_settings(tmp_path, monkeypatch):
    monkeypatch.setenv("HELPERS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMOKE", "1")
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    return get_settings(device="cpu")


@pytest.fixture
def tiny_config(monkeypatch):
    """A smaller-than-smoke stand-in so the whole pipeline runs in a few seconds."""
    from helpers.synth import SynthConfig

    small = replace(SynthConfig.smoke(), classes=3, clips_per_class=10, seconds=2.0)
    monkeypatch.setattr(fetch_hmdb51, "synth_config", lambda settings=None: small)
    return small


@pytest.mark.timeout(240)
def test_fetch_synth_end_to_end(smoke_settings, tiny_config, capsys):
    paths = fetch_hmdb51.fetch_hmdb51("auto", smoke_settings, progress=False)
    banner = capsys.readouterr().out
    assert "GENERATED STAND-IN" in banner and "smoke mode" in banner

    assert paths.source == "synth"
    # downloaded over HTTP next to the published checksum, then extracted
    for name in ("hmdb51_org.rar", "test_train_splits.rar"):
        downloaded = paths.archives_dir / name
        origin = fetch_hmdb51.synth_origin_dir(smoke_settings) / name
        assert downloaded.read_bytes() == origin.read_bytes()
        assert not downloaded.with_name(name + ".part").exists()

    summary = fetch_hmdb51.summarize(paths)
    assert len(summary.classes) == tiny_config.classes
    assert all(n == tiny_config.clips_per_class for n in summary.clips_per_class.values())
    for split in (1, 2, 3):
        sizes = summary.split_sizes[split]
        used = sizes["train"] + sizes["test"]
        assert sizes["unused"] > 0
        assert sizes["train"] + sizes["test"] + sizes["unused"] == summary.num_clips
        assert abs(sizes["train"] / used - 0.7) <= 0.1
    # every clip named in a split file exists on disk
    for f in paths.splits_dir.glob("*_test_split1.txt"):
        cls = f.name.rsplit("_test_split", 1)[0]
        for line in f.read_text().split("\n"):
            if line.strip():
                assert (paths.videos_dir / cls / line.split()[0]).is_file()

    # recorded for later notebooks
    assert fetch_hmdb51.active_dataset(smoke_settings) == paths
    assert (fetch_hmdb51.kinetics_dir(smoke_settings) / "annotations.json").is_file()

    # a second run is a no-op: nothing regenerated, downloaded or extracted again
    stamp = {p: p.stat().st_mtime_ns for p in paths.root.rglob("*") if p.is_file()}
    start = time.perf_counter()
    again = fetch_hmdb51.fetch_hmdb51("auto", smoke_settings, progress=False)
    assert again == paths
    assert {p: p.stat().st_mtime_ns for p in paths.root.rglob("*") if p.is_file()} == stamp
    assert time.perf_counter() - start < 30


def test_thumbnail_grid_is_a_figure(smoke_settings, tiny_config):
    from matplotlib.figure import Figure

    paths = fetch_hmdb51.fetch_hmdb51("synth", smoke_settings, progress=False)
    fig = fetch_hmdb51.thumbnail_grid(paths, per_class=2)
    assert isinstance(fig, Figure)
    assert len(fig.axes) == min(4, tiny_config.classes) * 2
    assert sum(bool(ax.images) for ax in fig.axes) == min(4, tiny_config.classes) * 2


def test_active_dataset_says_which_notebook_to_run(smoke_settings):
    with pytest.raises(fetch_hmdb51.DatasetNotReady, match="01_download_extract"):
        fetch_hmdb51.active_dataset(smoke_settings)


def test_choose_source_rules(tmp_path, monkeypatch):
    monkeypatch.setenv("HELPERS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    monkeypatch.setattr(fetch_hmdb51, "find_kaggle_hmdb51", lambda: None)
    monkeypatch.setenv("SMOKE", "1")
    s = get_settings(device="cpu")
    assert fetch_hmdb51.choose_source("auto", s).source == "synth"
    assert "smoke" in fetch_hmdb51.choose_source("auto", s).reason

    monkeypatch.setenv("SMOKE", "0")
    s = get_settings(device="cpu")
    offline = fetch_hmdb51.choose_source("auto", s, check_network=False)
    assert offline.source == "synth" and "unreachable" in offline.reason
    with pytest.raises(fetch_hmdb51.DatasetNotReady, match="hmdb51_org.rar"):
        fetch_hmdb51.choose_source("hmdb51", s, check_network=False)

    real = fetch_hmdb51.paths_for("hmdb51", s)
    real.archives_dir.mkdir(parents=True)
    (real.archives_dir / "hmdb51_org.rar").write_bytes(b"Rar!")
    assert fetch_hmdb51.choose_source("auto", s, check_network=False).source == "hmdb51"
    assert fetch_hmdb51.choose_source("synth", s).source == "synth"

    (real.videos_dir / "brush_hair").mkdir(parents=True)
    real.splits_dir.mkdir(parents=True)
    (real.splits_dir / "brush_hair_test_split1.txt").write_text("a.avi 1\n")
    choice = fetch_hmdb51.choose_source("auto", s, check_network=False)
    assert choice.source == "hmdb51" and "already extracted" in choice.reason


def test_cli_fetch_synth(tmp_path, monkeypatch, tiny_config, capsys):
    monkeypatch.setenv("HELPERS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMOKE", "1")
    assert fetch_hmdb51.main(["--source", "synth", "--no-progress"]) == 0
    out = capsys.readouterr().out
    assert f"classes: {tiny_config.classes}" in out
    record = json.loads((tmp_path / "data" / "active_dataset.json").read_text())
    assert Path(record["videos_dir"]).is_dir()
