"""The 51-class rehearsal set: HMDB51's real class names on generated motions, packed
and split like HMDB51, read by the real parser and dataset, made from the CLI; default
configs unchanged to the byte."""
from __future__ import annotations

import dataclasses
import hashlib
import io
import json
from pathlib import Path

import pytest
import rarfile

from helpers.hmdb51_official import HMDB51_CLASSES
from helpers.synth import SYNTH_CLASSES, SynthConfig, SynthConfigError, generate, render_clip
from helpers.synth.caption import VERBS
from helpers.synth.cli import main as synth_main
from helpers.synth.layouts import hmdb51_split_counts, hmdb51_split_tags
from helpers.synth.recipes import parts, recipe_of

pytestmark = pytest.mark.timeout(300)

# 1.6 s at 10 fps (16 frames, the minimum), 64×48: 51 × 4 clips in a few seconds.
NAMES51 = SynthConfig(names="hmdb51", classes=51, clips_per_class=4, seconds=1.6, fps=10, size=(64, 48))


@pytest.fixture(scope="module")
def hmdb51_named(tmp_path_factory):
    """The 51-class set generated, then extracted exactly as notebook 01 extracts HMDB51."""
    from helpers.archives import extract

    base = tmp_path_factory.mktemp("names51")
    result = generate("hmdb51", base / "origin", NAMES51, progress=False, workers=1)
    extract(base / "origin" / "hmdb51_org.rar", base / "videos", nested=True, progress=False)
    extract(base / "origin" / "test_train_splits.rar", base / "splits", nested=False, progress=False)
    return {"result": result, "videos": base / "videos", "splits": base / "splits" / "testTrainMulti_7030_splits",
            "origin": base / "origin", "index": base / "index.json"}


# ---- the 51-class set, HMDB51 layout ---------------------------------------------------
def test_class_folders_are_exactly_hmdb51s_names(hmdb51_named):
    with rarfile.RarFile(hmdb51_named["origin"] / "hmdb51_org.rar") as outer:
        assert outer.namelist() == [f"{name}.rar" for name in sorted(HMDB51_CLASSES)]
        inner = rarfile.RarFile(io.BytesIO(outer.read("brush_hair.rar")))
        assert all(m.startswith("brush_hair/") and m.endswith(".avi") for m in inner.namelist())
    folders = sorted(p.name for p in hmdb51_named["videos"].iterdir() if p.is_dir())
    assert folders == sorted(HMDB51_CLASSES) and len(folders) == 51
    assert all(len(list((hmdb51_named["videos"] / c).glob("*.avi"))) == 4 for c in folders)


def test_every_class_and_split_has_a_train_and_a_test_clip(hmdb51_named):
    from helpers.datasets import read_split, split_counts

    files = sorted(p.name for p in hmdb51_named["splits"].iterdir())
    assert files == sorted(f"{c}_test_split{s}.txt" for c in HMDB51_CLASSES for s in (1, 2, 3))
    for split in (1, 2, 3):
        table = read_split(hmdb51_named["splits"], split)
        assert sorted(table) == sorted(HMDB51_CLASSES)
        counts = split_counts(hmdb51_named["splits"], split)
        assert all(row == {"train": 2, "test": 1, "unused": 1} for row in counts.values())


def test_hmdb51_dataset_reads_51_classes(hmdb51_named):
    from helpers.datasets import HMDB51

    train = HMDB51(hmdb51_named["videos"], hmdb51_named["splits"], split=1, train=True, num_frames=8,
                   index_cache=hmdb51_named["index"])
    test = HMDB51(hmdb51_named["videos"], hmdb51_named["splits"], split=1, train=False, num_frames=8,
                  index_cache=hmdb51_named["index"])
    assert train.classes == list(HMDB51_CLASSES) and len(train.classes) == 51
    assert len(train) == 102 and len(test) == 51
    item = test[len(test) - 1]
    assert int(item["label"]) == 50 and item["video"].shape[1] == 8


def test_manifest_records_the_names_and_what_each_class_shows(hmdb51_named):
    doc = json.loads((hmdb51_named["origin"] / "synth_manifest.json").read_text())
    assert doc["classes"] == list(HMDB51_CLASSES) and doc["config"]["names"] == "hmdb51"
    by_class = {c["class_name"]: c for c in doc["clips"]}
    assert by_class["brush_hair"]["attributes"]["motion"] == "move_left"
    assert by_class["wave"]["attributes"]["motion"] == "rotate_cw+move_right"
    assert by_class["wave"]["label"] == 50


# ---- what the classes show --------------------------------------------------------------
def test_each_hmdb51_name_gets_its_own_motion_combination():
    recipes = [recipe_of(name) for name in HMDB51_CLASSES]
    assert len(set(recipes)) == 51
    for i, r in enumerate(recipes):
        assert r.pattern == SYNTH_CLASSES[i % 12]
        assert (r.second is None) == (i < 12)
        if r.second is not None:
            assert not parts(r.pattern) & parts(r.second)
    assert all(recipe_of(name).pattern == name and recipe_of(name).second is None for name in SYNTH_CLASSES)
    with pytest.raises(KeyError, match="unknown synthetic class"):
        recipe_of("juggle")


def test_kinetics_layout_with_hmdb51_names_has_captions_of_the_motion(tmp_path):
    config = dataclasses.replace(NAMES51, classes=14, clips_per_class=3)
    result = generate("kinetics", tmp_path / "k", config, progress=False, workers=1)
    rows = json.loads((tmp_path / "k" / "annotations.json").read_text())
    assert sorted({r["class_name"] for r in rows}) == sorted(HMDB51_CLASSES[:14])
    assert {r["split"] for r in rows if r["class_name"] == "fencing"} == {"train", "val", "test"}
    for row in rows:
        recipe = recipe_of(row["class_name"])
        assert VERBS[recipe.pattern] in row["caption"] and row["class_name"] not in row["caption"]
        if recipe.second is not None:
            assert f" and {VERBS[recipe.second]} " in row["caption"]
    assert result.records[0]["label"] == 0 and result.records[-1]["label"] == 13
    fall = render_clip("fall_floor", config, 5)
    assert fall.label == 12 and "moves to the left and rotates clockwise" in fall.caption


def test_names_are_validated():
    with pytest.raises(SynthConfigError, match="names='hmdb51' allows up to 51"):
        SynthConfig(classes=13)
    with pytest.raises(SynthConfigError, match="51 hmdb51 class names"):
        SynthConfig(names="hmdb51", classes=52)
    with pytest.raises(SynthConfigError, match="names must be one of"):
        SynthConfig(names="kinetics")
    assert SynthConfig(names="hmdb51", classes=3).class_names == ("brush_hair", "cartwheel", "catch")


@pytest.mark.parametrize("num_clips", range(3, 41))
def test_small_classes_keep_a_train_and_a_test_clip_in_every_split(num_clips):
    train, test, unused = hmdb51_split_counts(num_clips)
    assert train >= 1 and test >= 1 and unused >= 1 and train + test + unused == num_clips
    tags = hmdb51_split_tags(num_clips, seed=0, label=7)
    assert len({tuple(t) for t in tags}) == 3
    assert all(t.count(1) == train and t.count(2) == test for t in tags)


# ---- default configs are unchanged --------------------------------------------------------
# sha256 of index files written before the name sets existed (encoder-independent files:
# the split archive, the manifest, the Kinetics annotations) for this 12-class config.
BEFORE = {
    "hmdb51/test_train_splits.rar": "1785dd47f04d213a4e495f0daa79d21ce2737976e08d983840c86d89b3576425",
    "hmdb51/synth_manifest.json": "a5a743f26cfd8e94f625e46e5b287f56544ea8f92cc8742a9c18864e4ca11bdd",
    "kinetics/annotations.json": "7c06958562afbeda54e6808d75d05b6a4f9335456b34d0765238d080cc1ccea3",
    "kinetics/synth_manifest.json": "70e61615ef5424eb8667a20ae44ff32c698b2ac849e812a6ba3cf1befd5b9058",
}
MOTION12 = SynthConfig.smoke(classes=12, clips_per_class=3, seconds=1.6, fps=10, size=(64, 48))


@pytest.mark.parametrize("layout", ["hmdb51", "kinetics"])
def test_default_names_write_the_same_bytes_as_before(layout, tmp_path):
    out = generate(layout, tmp_path / layout, MOTION12, progress=False, workers=1).out
    for key, digest in BEFORE.items():
        if key.startswith(layout + "/"):
            got = hashlib.sha256((out / key.split("/", 1)[1]).read_bytes()).hexdigest()
            assert got == digest, key
    assert "names" not in MOTION12.to_dict()
    assert "names" not in json.loads((out / "synth_manifest.json").read_text())["config"]


# ---- CLI ----------------------------------------------------------------------------------
def test_cli_class_names_hmdb51(tmp_path, capsys):
    code = synth_main(["--layout", "hmdb51", "--out", str(tmp_path / "h"), "--class-names", "hmdb51",
                       "--classes", "51", "--clips-per-class", "3", "--seconds", "1.6", "--fps", "10",
                       "--size", "64x48", "--workers", "1", "--no-progress"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(out) == 1 and "51 classes, 153 clips" in out[0]
    doc = json.loads((tmp_path / "h" / "synth_manifest.json").read_text())
    assert doc["classes"] == list(HMDB51_CLASSES)


def test_cli_rejects_more_names_than_the_set_has(tmp_path, capsys):
    assert synth_main(["--layout", "hmdb51", "--out", str(tmp_path / "x"), "--class-names", "hmdb51",
                       "--classes", "52"]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and "51 hmdb51 class names" in err[0] and not Path(tmp_path / "x").exists()
