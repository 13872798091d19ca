"""The datasets on the project's generated stand-in (helpers.synth), packed and
extracted like the real archives: split sizes, labels, captions and the audio event."""
from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.datasets import HMDB51, KineticsStyle, make_loader, read_split, split_counts

pytestmark = pytest.mark.timeout(300)


@pytest.fixture(scope="module")
def synth(tmp_path_factory):
    """Smaller than the smoke preset: 3 classes × 6 clips of 1.2 s (18 frames)."""
    from helpers.archives import extract
    from helpers.synth import SynthConfig, generate

    base = tmp_path_factory.mktemp("synth")
    config = SynthConfig.smoke(classes=3, clips_per_class=6, seconds=1.2, fps=15, size=(64, 48))
    hmdb = generate("hmdb51", base / "hmdb51_origin", config, progress=False, workers=1)
    kinetics = generate("kinetics", base / "kinetics", config, progress=False, workers=1)
    extract(base / "hmdb51_origin" / "hmdb51_org.rar", base / "videos", nested=True, progress=False)
    extract(base / "hmdb51_origin" / "test_train_splits.rar", base / "splits", nested=False, progress=False)
    return {
        "config": config,
        "hmdb_records": hmdb.records,
        "videos": base / "videos",
        "splits": base / "splits" / "testTrainMulti_7030_splits",
        "kinetics": base / "kinetics",
        "index": base / "index.json",
    }


def test_generated_split_files_parse_to_the_generated_assignment(synth):
    records = synth["hmdb_records"]
    classes = sorted(synth["config"].class_names)
    for split in (1, 2, 3):
        table = read_split(synth["splits"], split)
        assert sorted(table) == classes
        for cls in classes:
            mine = [r for r in records if r["class_name"] == cls]
            assert sorted(table[cls]["train"]) == sorted(r["clip"] for r in mine if r["splits"][split - 1] == 1)
            assert sorted(table[cls]["test"]) == sorted(r["clip"] for r in mine if r["splits"][split - 1] == 2)
        # 6 clips per class: 1 unused, the other 5 split 70/30 → 4 train, 1 test
        assert all(row == {"train": 4, "test": 1, "unused": 1} for row in split_counts(synth["splits"], split).values())


@pytest.mark.parametrize("split", [1, 2, 3])
def test_hmdb51_on_the_stand_in(synth, split):
    train = HMDB51(synth["videos"], synth["splits"], split=split, train=True, num_frames=8,
                   index_cache=synth["index"])
    test = HMDB51(synth["videos"], synth["splits"], split=split, train=False, num_frames=8,
                  index_cache=synth["index"])
    assert len(train) == 12 and len(test) == 3
    assert train.classes == sorted(synth["config"].class_names)
    for ds in (train, test):
        for rec in ds.samples:
            assert Path(rec.path).parent.name == ds.classes[rec.label]
    info = train.infos[0]
    assert info.num_frames == 18 and info.fps == pytest.approx(15) and not info.has_audio
    item = test[0]
    assert item["video"].shape == (3, 8, 112, 112) and not bool(item["audio_mask"])


def test_kinetics_stand_in_items_carry_captions_and_the_event_sound(synth):
    root = synth["kinetics"]
    rows = json.loads((root / "annotations.json").read_text())
    by_path = {str(root / r["video_path"]): r for r in rows}
    for split in ("train", "val", "test"):
        ds = KineticsStyle(root, root / "annotations.json", split=split, num_frames=8, index_cache=synth["index"])
        assert len(ds) == sum(r["split"] == split for r in rows)
        assert ds.classes == list(synth["config"].class_names)  # label order of the file
    ds = KineticsStyle(root, root / "annotations.csv", split="test", num_frames=8, index_cache=synth["index"])
    assert ds.audio_seconds == pytest.approx(1.2)  # the longest clip: whole clips
    for i in range(len(ds)):
        item = ds[i]
        row = by_path[item["path"]]
        assert item["caption"] == row["caption"] and int(item["label"]) == row["label"]
        assert bool(item["audio_mask"]) and item["audio"].shape == (19200,)
        # the tone sounds during the motion event: audio energy sits inside its window
        wave = item["audio"].numpy()
        a, b = (int(row[k] / row["fps"] * 16000) for k in ("event_start", "event_end"))
        inside = float(np.sqrt(np.mean(wave[a:b] ** 2)))
        outside = float(np.sqrt(np.mean(np.concatenate([wave[:a], wave[b:]]) ** 2)))
        assert inside > 0.05 and inside > 10 * outside


def test_loader_over_the_stand_in(synth):
    root = synth["kinetics"]
    ds = KineticsStyle(root, root / "annotations.json", split="train", num_frames=4, index_cache=synth["index"])
    loader = make_loader(ds, batch_size=4, train=True, num_workers=0, seed=0)
    batches = list(loader)
    assert sum(len(b["path"]) for b in batches) == len(ds) and loader.failures.count == 0
    b = batches[0]
    assert b["video"].shape == (4, 3, 4, 112, 112) and b["audio"].shape == (4, 19200)
    assert b["audio_mel"].shape == (4, 64, 19200 // 160 + 1) and b["audio_mask"].all()
    assert b["frame_indices"].dtype == torch.int64 and b["frame_times"].dtype == torch.float32
    assert all(isinstance(c, str) and c for c in b["caption"])
