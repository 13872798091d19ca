"""Datasets (helpers.datasets): split parsing, HMDB51 and Kinetics-style items exactly
as the Batches contract says, and a 2-worker DataLoader over broken clips."""
from __future__ import annotations

import csv
import json
import pickle
from pathlib import Path

import numpy as np
import pytest
import torch

from helpers.datasets import (
    HMDB51,
    FailedItem,
    FailureLog,
    KineticsStyle,
    MissingClipsError,
    SplitFormatError,
    collate_clips,
    make_loader,
    read_split,
    split_counts,
    total_counts,
)
from helpers.datasets.transforms import KINETICS_MEAN, KINETICS_STD, denormalize, eval_preset
from helpers.datasets.splits import parse_split_file
from video_factory import full_decode, identify, make_video

TAG = {"train": "1", "test": "2", "unused": "0"}


# ----------------------------------------------------------------------------- splits
def write_split_files(folder: Path, classes: dict[str, list[tuple[str, str]]], split: int, crlf: bool = False) -> None:
    """Official format: ``<clip>.avi <tag> `` (trailing space) per line."""
    folder.mkdir(parents=True, exist_ok=True)
    end = "\r\n" if crlf else "\n"
    for cls, rows in classes.items():
        text = "".join(f"{clip} {TAG[side]} {end}" for clip, side in rows)
        (folder / f"{cls}_test_split{split}.txt").write_bytes(text.encode())


def hmdb_like_rows(cls: str, split: int, n_train=70, n_test=30, n_unused=2) -> list[tuple[str, str]]:
    """Interleaved sides like the real files (which are not sorted by tag); the split
    number rotates which clips go where, as the three official splits do."""
    sides = ["train"] * n_train + ["test"] * n_test + ["unused"] * n_unused
    rng = np.random.default_rng(split)
    rng.shuffle(sides)
    return [(f"{cls}_clip{i:03d}.avi", side) for i, side in enumerate(sides)]


def test_read_split_gives_exact_counts_for_every_split(tmp_path):
    classes = ["wave", "brush_hair", "climb"]
    for split in (1, 2, 3):
        write_split_files(tmp_path, {c: hmdb_like_rows(c, split) for c in classes}, split, crlf=(split == 2))
    for split in (1, 2, 3):
        table = read_split(tmp_path, split)
        assert list(table) == sorted(classes)
        for cls in classes:
            assert len(table[cls]["train"]) == 70
            assert len(table[cls]["test"]) == 30
            expected = hmdb_like_rows(cls, split)
            assert table[cls]["train"] == [c for c, s in expected if s == "train"]  # file order kept
            assert table[cls]["test"] == [c for c, s in expected if s == "test"]
            assert not set(table[cls]["train"]) & set(table[cls]["test"])
        counts = split_counts(tmp_path, split)
        assert counts["climb"] == {"train": 70, "test": 30, "unused": 2}
        assert total_counts(counts) == {"train": 210, "test": 90, "unused": 6}
    # splits differ (the clips rotate) but cover the same clips
    assert read_split(tmp_path, 1)["wave"]["train"] != read_split(tmp_path, 3)["wave"]["train"]


def test_split_parsing_tolerates_blank_lines_and_spaces(tmp_path):
    f = tmp_path / "jump_test_split1.txt"
    f.write_bytes(b"a.avi 1 \r\n\r\n  b.avi\t2\t\r\nc.avi 0\n")
    assert parse_split_file(f) == {"a.avi": "train", "b.avi": "test", "c.avi": "unused"}


@pytest.mark.parametrize(
    "bad_line, why",
    [("clip_x.avi 3", "tag must be 0, 1 or 2"), ("clip_x.avi", "expected '<clip>.avi <0|1|2>'"),
     ("clip_000.avi 2", "listed twice")],
)
def test_malformed_split_line_names_file_and_line(tmp_path, bad_line, why):
    rows = "".join(f"clip_{i:03d}.avi 1 \n" for i in range(4))
    f = tmp_path / "run_test_split1.txt"
    f.write_text(rows + bad_line + "\n")
    with pytest.raises(SplitFormatError) as info:
        read_split(tmp_path, 1)
    assert info.value.path == f and info.value.line_no == 5
    assert f"{f}:5" in str(info.value) and why in str(info.value)


def test_split_errors_for_missing_folder_files_and_bad_split(tmp_path):
    with pytest.raises(FileNotFoundError, match="split folder not found"):
        read_split(tmp_path / "nope", 1)
    write_split_files(tmp_path, {"a": [("x.avi", "train")]}, split=1)
    with pytest.raises(FileNotFoundError, match="_test_split2.txt"):
        read_split(tmp_path, 2)
    with pytest.raises(ValueError, match="1, 2 or 3"):
        read_split(tmp_path, 4)


# ----------------------------------------------------------------------------- fixtures
FPS = 25
FRAMES = 24


@pytest.fixture(scope="module")
def hmdb_tree(tmp_path_factory):
    """3 classes × 4 silent avi clips; split 1: 2 train, 1 test, 1 unused per class."""
    base = tmp_path_factory.mktemp("hmdb")
    root, splits = base / "videos", base / "splits"
    sides = ["train", "test", "train", "unused"]
    table = {}
    for cls in ["walk", "clap", "sit"]:
        (root / cls).mkdir(parents=True)
        rows = []
        for i, side in enumerate(sides):
            name = f"{cls}_{i}.avi"
            make_video(root / cls / name, "avi-mpeg4", num_frames=FRAMES, fps=FPS, gop=6)
            rows.append((name, side))
        table[cls] = rows
    write_split_files(splits, table, split=1)
    return root, splits


@pytest.fixture(scope="module")
def kinetics_tree(tmp_path_factory):
    """2 classes × 3 mp4 clips with a 440 Hz tone from 0.4 s, plus JSON and CSV annotations."""
    root = tmp_path_factory.mktemp("kinetics")
    rows = []
    for label, cls in enumerate(["tone_a", "tone_b"]):
        (root / cls).mkdir()
        for i in range(3):
            rel = f"{cls}/{cls}_{i}.mp4"
            make_video(root / rel, "mp4-h264", num_frames=FRAMES, fps=FPS, gop=8, audio_tone=(0.4, 440.0))
            rows.append({"video_path": rel, "label": label, "class_name": cls,
                         "caption": f"a {cls} clip number {i}", "split": "train" if i < 2 else "test"})
    (root / "annotations.json").write_text(json.dumps(rows))
    with open(root / "annotations.csv", "w", newline="") as fh:
        w = csv.DictWriter(fh, fieldnames=list(rows[0]))
        w.writeheader()
        w.writerows(rows)
    return root


# ----------------------------------------------------------------------------- HMDB51
def test_hmdb51_lists_exactly_the_split_clips(hmdb_tree, tmp_path):
    root, splits = hmdb_tree
    train = HMDB51(root, splits, split=1, train=True, index_cache=tmp_path / "index.json")
    test = HMDB51(root, splits, split=1, train=False, index_cache=tmp_path / "index.json")
    assert train.classes == ["clap", "sit", "walk"]  # sorted names → indices
    assert len(train) == 6 and len(test) == 3
    assert [Path(s.path).name for s in train.samples] == [
        "clap_0.avi", "clap_2.avi", "sit_0.avi", "sit_2.avi", "walk_0.avi", "walk_2.avi"]
    assert train.targets == [0, 0, 1, 1, 2, 2]
    assert test.targets == [0, 1, 2]
    assert not {s.path for s in train.samples} & {s.path for s in test.samples}
    assert all("_3.avi" not in s.path for s in train.samples + test.samples)  # unused left out
    assert train.class_counts() == {"clap": 2, "sit": 2, "walk": 2}


def test_hmdb51_missing_clip_is_a_clear_error(hmdb_tree, tmp_path):
    root, splits = hmdb_tree
    extra = tmp_path / "splits"
    table = {c: [(f"{c}_{i}.avi", "train") for i in range(3)] for c in ["clap", "sit", "walk"]}
    table["sit"].append(("sit_gone.avi", "train"))
    table["walk"].append(("walk_gone.avi", "train"))
    write_split_files(extra, table, split=1)
    with pytest.raises(MissingClipsError) as info:
        HMDB51(root, extra, split=1, train=True, index_cache=False)
    assert info.value.missing == ["sit/sit_gone.avi", "walk/walk_gone.avi"]
    assert "2 clip(s)" in str(info.value) and "walk/walk_gone.avi" in str(info.value)


def check_item_contract(item, num_frames: int, audio_samples: int) -> None:
    assert set(item) == {"video", "frame_indices", "frame_times", "audio", "audio_mel",
                         "audio_mask", "label", "caption", "path"}
    assert item["video"].dtype == torch.float32 and item["video"].shape == (3, num_frames, 112, 112)
    assert item["frame_indices"].dtype == torch.int64 and item["frame_indices"].shape == (num_frames,)
    assert item["frame_times"].dtype == torch.float32 and item["frame_times"].shape == (num_frames,)
    assert item["audio"].dtype == torch.float32 and item["audio"].shape == (audio_samples,)
    assert item["audio_mel"].dtype == torch.float32 and item["audio_mel"].ndim == 2
    assert item["audio_mel"].shape[0] == 64
    assert item["audio_mask"].dtype == torch.bool and item["audio_mask"].shape == ()
    assert item["label"].dtype == torch.int64 and item["label"].shape == ()
    assert isinstance(item["caption"], str) and isinstance(item["path"], str)


def test_hmdb51_item_follows_the_contract_and_holds_the_sampled_frames(hmdb_tree, tmp_path):
    root, splits = hmdb_tree
    ds = HMDB51(root, splits, split=1, train=False, num_frames=8, index_cache=tmp_path / "i.json",
                audio_seconds=1.0)
    item = ds[1]  # the test clip of "sit"
    check_item_contract(item, 8, 16000)
    assert item["path"].endswith("sit/sit_1.avi") and int(item["label"]) == 1
    assert item["caption"] == "" and not bool(item["audio_mask"])
    assert torch.count_nonzero(item["audio"]) == 0
    from helpers.video.audio import log_mel  # silence is what log_mel makes of zeros

    silent = torch.from_numpy(log_mel(np.zeros(16000, np.float32)))
    torch.testing.assert_close(item["audio_mel"], silent, atol=1e-3, rtol=0)
    idx = item["frame_indices"].numpy()
    assert idx.tolist() == sorted(idx.tolist()) and idx.min() >= 0 and idx.max() <= FRAMES - 1
    assert len(set(idx.tolist())) == 8  # uniform over 24 frames: distinct frames
    np.testing.assert_allclose(item["frame_times"].numpy(), idx / FPS, rtol=1e-6)
    # the frames are those indices: each matches that frame of a plain full decode put
    # through the same eval transform (denormalize undoes the Kinetics normalization)
    # (uncropped here, so every bit of the frame-number code painted on top stays visible)
    whole = HMDB51(root, splits, split=1, train=False, num_frames=8, index_cache=tmp_path / "i.json",
                   audio_seconds=1.0, transform=eval_preset(crop=(128, 171)))[1]
    assert whole["video"].shape == (3, 8, 128, 171) and torch.equal(whole["frame_indices"], item["frame_indices"])
    reference = denormalize(eval_preset(crop=(128, 171))(full_decode(Path(item["path"]))))
    assert identify(denormalize(whole["video"]), reference).tolist() == idx.tolist()
    torch.testing.assert_close(whole["video"][:, :, 8:120, 29:141], item["video"])  # centre crop
    mean = item["video"].mean(dim=(1, 2, 3))
    assert mean.shape == (3,) and torch.all(mean.abs() < 4)
    assert ds.transform.mean == KINETICS_MEAN and ds.transform.std == KINETICS_STD


def test_train_items_are_random_but_reproducible(hmdb_tree, tmp_path):
    root, splits = hmdb_tree
    ds = HMDB51(root, splits, split=1, train=True, num_frames=4, index_cache=tmp_path / "i.json")
    torch.manual_seed(0)
    a = [ds[0]["frame_indices"].tolist() for _ in range(6)]
    torch.manual_seed(0)
    b = [ds[0]["frame_indices"].tolist() for _ in range(6)]
    assert a == b and len({tuple(x) for x in a}) > 1  # TSN offsets vary per draw


def test_dataset_pickles_without_open_readers(hmdb_tree, tmp_path):
    root, splits = hmdb_tree
    ds = HMDB51(root, splits, split=1, train=False, num_frames=4, index_cache=tmp_path / "i.json")
    ds[0]
    clone = pickle.loads(pickle.dumps(ds))
    assert len(clone) == len(ds)
    assert torch.equal(clone[1]["video"], ds[1]["video"])


# ----------------------------------------------------------------------------- Kinetics
@pytest.mark.parametrize("fmt", ["json", "csv"])
def test_kinetics_annotations_with_audio_and_captions(kinetics_tree, tmp_path, fmt):
    ann = kinetics_tree / f"annotations.{fmt}"
    train = KineticsStyle(kinetics_tree, ann, split="train", num_frames=8,
                          index_cache=tmp_path / "i.json", audio_seconds=0.5)
    test = KineticsStyle(kinetics_tree, ann, split="test", num_frames=8, index_cache=tmp_path / "i.json")
    assert train.classes == ["tone_a", "tone_b"] and train.train and not test.train
    assert len(train) == 4 and len(test) == 2 and test.targets == [0, 1]
    torch.manual_seed(0)
    item = train[2]
    check_item_contract(item, 8, 8000)
    assert item["caption"] == "a tone_b clip number 0" and int(item["label"]) == 1
    assert bool(item["audio_mask"])
    # 0.5 s centred on the sampled frames of a 0.96 s clip with a tone from 0.4 s on:
    # the window starts at ≤ 0.4 s, so its first part is silent and the rest is loud
    wave = item["audio"].numpy()
    assert np.abs(wave).max() > 0.2
    assert item["audio_mel"].shape == (64, 8000 // 160 + 1)
    # without an explicit length, the longest clip fits: whole clips, zero-padded
    assert test.audio_seconds == pytest.approx(1.0) and test[0]["audio"].shape == (16000,)


def test_kinetics_class_folders(kinetics_tree, tmp_path):
    ds = KineticsStyle(kinetics_tree, index_cache=False, num_frames=4, with_audio=False)
    assert ds.classes == ["tone_a", "tone_b"] and len(ds) == 6
    assert ds.targets == [0, 0, 0, 1, 1, 1]
    item = ds[5]
    check_item_contract(item, 4, 16000)  # without audio: 1 s of zeros by default
    assert item["caption"] == "" and not bool(item["audio_mask"])
    with pytest.raises(ValueError, match="annotation file"):
        KineticsStyle(kinetics_tree, split="train", index_cache=False)


def test_bad_annotation_rows_are_reported(tmp_path):
    from helpers.datasets import AnnotationError

    f = tmp_path / "a.json"
    f.write_text(json.dumps([{"video_path": "x.mp4", "label": 0, "class_name": "a"},
                             {"video_path": "y.mp4", "label": 0, "class_name": "b"}]))
    with pytest.raises(AnnotationError, match="row 2: label 0 is both 'a' and 'b'"):
        KineticsStyle(tmp_path, f, index_cache=False)
    f.write_text(json.dumps([{"video_path": "x.mp4", "class_name": "a"}]))
    with pytest.raises(AnnotationError, match="row 1 lacks label"):
        KineticsStyle(tmp_path, f, index_cache=False)


# ----------------------------------------------------------------------------- failures
def test_collate_drops_failed_items_and_log_summarizes():
    good = {"video": torch.zeros(3, 2, 4, 4), "label": torch.tensor(1), "path": "ok.avi"}
    batch = collate_clips([good, FailedItem("bad.avi", "empty file", 3), good])
    assert batch["video"].shape == (2, 3, 2, 4, 4) and batch["path"] == ["ok.avi", "ok.avi"]
    assert batch["failures"] == [FailedItem("bad.avi", "empty file", 3)]
    assert collate_clips([FailedItem("a", "x")]) == {"failures": [FailedItem("a", "x")]}
    log = FailureLog()
    assert log.summary() == "0 clips failed"
    log.record([FailedItem("a.avi", "VideoDecodeError: empty file (0 bytes)"), FailedItem("b.avi", "not a video")])
    assert log.summary() == "2 clips failed:\n  a.avi: VideoDecodeError: empty file (0 bytes)\n  b.avi: not a video"


@pytest.mark.timeout(300)
@pytest.mark.parametrize("index_cache", [False, True], ids=["no-index", "index"])
def test_loader_with_two_workers_skips_and_reports_broken_clips(tmp_path, index_cache):
    root = tmp_path / "clips"
    good = []
    for cls in ("a", "b"):
        (root / cls).mkdir(parents=True)
        for i in range(3):
            good.append(str(make_video(root / cls / f"{cls}{i}.avi", num_frames=12, fps=FPS, gop=4)))
    (root / "a" / "empty.avi").write_bytes(b"")
    (root / "b" / "notes.avi").write_text("this is not a video\n" * 20)
    ds = KineticsStyle(root, num_frames=4, with_audio=False, audio_seconds=0.2,
                       index_cache=tmp_path / "index.json" if index_cache else False)
    loader = make_loader(ds, batch_size=3, train=True, num_workers=2, seed=0)
    assert loader.loader.num_workers == 2 and loader.loader.persistent_workers
    for epoch in range(2):
        seen: list[str] = []
        for batch in loader:
            assert set(batch) == {"video", "frame_indices", "frame_times", "audio", "audio_mel",
                                  "audio_mask", "label", "caption", "path"}
            b = len(batch["path"])
            assert batch["video"].shape == (b, 3, 4, 112, 112) and batch["label"].shape == (b,)
            assert batch["audio_mask"].dtype == torch.bool and batch["audio_mask"].shape == (b,)
            seen += batch["path"]
        assert sorted(seen) == sorted(good)  # every good clip exactly once
        assert loader.failures.count == 2
        reasons = dict((Path(f.path).name, f.reason) for f in loader.failures.items)
        assert set(reasons) == {"empty.avi", "notes.avi"}
        assert "empty" in reasons["empty.avi"] or "0 bytes" in reasons["empty.avi"]
        assert reasons["notes.avi"]  # a reason, never blank
        summary = loader.failures.summary()
        assert summary.startswith("2 clips failed:") and "empty.avi: " in summary and "notes.avi: " in summary
    assert loader.total_failures == 4


def test_on_error_raise_propagates(tmp_path):
    root = tmp_path / "c"
    (root / "x").mkdir(parents=True)
    (root / "x" / "empty.avi").write_bytes(b"")
    ds = KineticsStyle(root, index_cache=False, with_audio=False, on_error="raise", audio_seconds=0.1)
    from helpers.video import VideoDecodeError

    with pytest.raises(VideoDecodeError) as info:
        ds[0]
    assert info.value.path.endswith("empty.avi")
    skipping = KineticsStyle(root, index_cache=False, with_audio=False, audio_seconds=0.1)
    failed = skipping[0]
    assert isinstance(failed, FailedItem) and failed.path.endswith("empty.avi") and failed.index == 0
    assert failed.reason.startswith("VideoDecodeError: ")


def test_make_loader_defaults(monkeypatch):
    from helpers.datasets import loader as loader_mod

    monkeypatch.setattr(loader_mod, "available_cpus", lambda: 16)
    assert loader_mod.default_num_workers() == 8
    monkeypatch.setattr(loader_mod, "available_cpus", lambda: 2)
    assert loader_mod.default_num_workers() == 1
    l = make_loader(list(range(10)), batch_size=4, train=False)
    assert l.loader.num_workers == 1 and l.loader.persistent_workers and l.loader.prefetch_factor == 4
    assert l.loader.pin_memory == torch.cuda.is_available()
    l0 = make_loader(list(range(10)), batch_size=4, train=False, num_workers=0)
    assert l0.loader.num_workers == 0 and not l0.loader.persistent_workers


def test_plots_return_figures(hmdb_tree, tmp_path):
    import matplotlib

    matplotlib.use("Agg")
    from matplotlib.figure import Figure

    from helpers.datasets import plot_audio, plot_frame_strips, plot_load_times

    root, splits = hmdb_tree
    ds = HMDB51(root, splits, split=1, train=False, num_frames=4, index_cache=tmp_path / "i.json")
    fig = plot_frame_strips([ds[0], ds[1]], ds.classes, max_frames=3)
    assert isinstance(fig, Figure) and len(fig.axes) == 6
    assert fig.axes[0].get_title() == f"#{int(ds[0]['frame_indices'][0])} · 0.00s"
    wave = np.sin(np.linspace(0, 100, 8000)).astype(np.float32)
    assert isinstance(plot_audio(wave, np.zeros((64, 51), np.float32)), Figure)
    assert isinstance(plot_load_times({"uncached_ms": 30.0, "cache_hit_ms": 3.0}), Figure)


def test_ensure_demo_data_says_which_notebook_to_run(tmp_path, monkeypatch):
    from helpers.datasets import ensure_demo_data
    from helpers.fetch_hmdb51 import DatasetNotReady
    from helpers.settings import get_settings

    monkeypatch.setenv("HELPERS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setenv("SMOKE", "0")
    with pytest.raises(DatasetNotReady, match="01_download_extract"):
        ensure_demo_data(get_settings(device="cpu"))
