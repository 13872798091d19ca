"""The generated stand-in dataset: layouts packed like the originals, reproducible bytes,
and classes that are learnable only from motion inside the event window."""
from __future__ import annotations

import csv
import dataclasses
import io
import json
from pathlib import Path

import av
import numpy as np
import pytest
import rarfile

from helpers.synth import SYNTH_CLASSES, SynthConfig, SynthConfigError, clip_seed, generate, render_clip
from helpers.synth.audio import FAMILY_PITCH_HZ
from helpers.synth.caption import VERBS
from helpers.synth.cli import main as synth_main
from helpers.synth.config import CLASS_FAMILY
from helpers.synth.motion import EventWindow, sample_track
from helpers.synth.scene import Appearance, render_background, render_frames

SMOKE = SynthConfig.smoke()
TINY = SynthConfig.smoke(classes=2, clips_per_class=4, seconds=2.0, fps=10, size=(64, 48))


# ---- fixtures: one smoke run per layout, shared by the module --------------------------
@pytest.fixture(scope="module")
def hmdb(tmp_path_factory):
    out = tmp_path_factory.mktemp("hmdb51")
    return generate("hmdb51", out, SMOKE, progress=False, workers=2)


@pytest.fixture(scope="module")
def kinetics(tmp_path_factory):
    out = tmp_path_factory.mktemp("kinetics")
    return generate("kinetics", out, SMOKE, progress=False, workers=2)


def _nested_members(org: Path) -> dict[str, dict[str, bytes]]:
    """{class rar name: {member name: bytes}} read straight from hmdb51_org.rar."""
    with rarfile.RarFile(org) as outer:
        return {name: _read_all(outer.read(name)) for name in outer.namelist()}


def _read_all(rar_bytes: bytes) -> dict[str, bytes]:
    with rarfile.RarFile(io.BytesIO(rar_bytes)) as inner:
        return {name: inner.read(name) for name in inner.namelist()}


def _split_files(archive: Path) -> dict[str, list[tuple[str, int]]]:
    with rarfile.RarFile(archive) as rf:
        parsed = {}
        for name in rf.namelist():
            lines = rf.read(name).decode("ascii").splitlines()
            parsed[name] = [(clip, int(tag)) for clip, tag in (line.split() for line in lines)]
        return parsed


def _decode(path: Path) -> tuple[np.ndarray, dict]:
    with av.open(str(path)) as container:
        v = container.streams.video[0]
        info = {"fps": v.average_rate, "codec": v.codec_context.name, "tag": v.codec_context.codec_tag,
                "audio": [(a.codec_context.name, a.sample_rate, a.channels) for a in container.streams.audio]}
        frames = np.stack([f.to_ndarray(format="rgb24") for f in container.decode(video=0)])
    return frames, info


def _decode_audio(path: Path) -> np.ndarray:
    with av.open(str(path)) as container:
        return np.concatenate([f.to_ndarray().reshape(-1) for f in container.decode(audio=0)])


# ---- hmdb51 layout ---------------------------------------------------------------------
def test_hmdb51_layout_has_exactly_the_official_files(hmdb):
    out = hmdb.out
    assert sorted(p.name for p in out.iterdir()) == ["hmdb51_org.rar", "synth_manifest.json",
                                                     "test_train_splits.rar"]
    assert hmdb.class_names == SYNTH_CLASSES[:6]
    assert hmdb.clip_counts == {name: 11 for name in SYNTH_CLASSES[:6]}
    assert hmdb.split_counts == {"train": 42, "test": 18, "unused": 6}

    nested = _nested_members(out / "hmdb51_org.rar")
    assert sorted(nested) == sorted(f"{c}.rar" for c in hmdb.class_names)
    for class_rar, members in nested.items():
        cls = class_rar[:-4]
        assert len(members) == 11
        for name, data in members.items():
            folder, clip = name.split("/")
            assert folder == cls and clip.endswith(".avi") and f"_{cls}_" in clip
            assert data[:4] == b"RIFF" and data[8:12] == b"AVI "


def test_hmdb51_split_files_are_70_30_with_unused_and_differ(hmdb):
    splits = _split_files(hmdb.out / "test_train_splits.rar")
    expected = {f"testTrainMulti_7030_splits/{c}_test_split{s}.txt" for c in hmdb.class_names for s in (1, 2, 3)}
    assert set(splits) == expected
    nested = _nested_members(hmdb.out / "hmdb51_org.rar")
    for cls in hmdb.class_names:
        clips = {name.split("/")[1] for name in nested[f"{cls}.rar"]}
        assignments = []
        for s in (1, 2, 3):
            rows = splits[f"testTrainMulti_7030_splits/{cls}_test_split{s}.txt"]
            assert {clip for clip, _ in rows} == clips          # every clip listed once
            tags = [tag for _, tag in rows]
            train, test, unused = tags.count(1), tags.count(2), tags.count(0)
            assert (train, test, unused) == (7, 3, 1)
            assert train / (train + test) == pytest.approx(0.7)
            assignments.append(dict(rows))
        assert assignments[0] != assignments[1] != assignments[2] != assignments[0]
    # HMDB51's own line format: "<clip>.avi <tag> " (trailing space)
    with rarfile.RarFile(hmdb.out / "test_train_splits.rar") as rf:
        first = rf.read(rf.namelist()[0]).decode().splitlines()[0]
    assert first.endswith(" ") and first.split()[0].endswith(".avi")


def test_hmdb51_manifest_matches_archives_and_event_fraction(hmdb):
    manifest = json.loads((hmdb.out / "synth_manifest.json").read_text())
    assert manifest["classes"] == list(hmdb.class_names)
    clips = manifest["clips"]
    assert len(clips) == 66
    nested = _nested_members(hmdb.out / "hmdb51_org.rar")
    in_rars = {name for members in nested.values() for name in members}
    assert {c["video_path"] for c in clips} == in_rars
    splits = _split_files(hmdb.out / "test_train_splits.rar")
    for c in clips:
        assert c["label"] == SYNTH_CLASSES.index(c["class"]) and c["class"] == c["class_name"]
        assert c["num_frames"] == 45 and c["fps"] == 15
        assert 1 <= c["event_start"] < c["event_end"] <= 45
        share = (c["event_end"] - c["event_start"]) / 45
        assert 0.25 - 1 / 45 <= share <= 0.40 + 1 / 45
        rows = dict(splits[f"testTrainMulti_7030_splits/{c['class_name']}_test_split1.txt"])
        assert rows[c["clip"]] == c["splits"][0]
        a = c["attributes"]
        assert a["colour"] in c["caption"] and a["shape"] in c["caption"] and VERBS[c["class_name"]] in c["caption"]


def test_avi_decodes_with_configured_frames_size_fps_and_no_audio(hmdb, tmp_path):
    nested = _nested_members(hmdb.out / "hmdb51_org.rar")
    name, data = next(iter(nested["rotate_cw.rar"].items()))
    path = tmp_path / Path(name).name
    path.write_bytes(data)
    frames, info = _decode(path)
    assert frames.shape == (45, 120, 160, 3)
    assert info["fps"] == 15 and info["codec"] == "mpeg4" and info["tag"] == "XVID"
    assert info["audio"] == []


# ---- kinetics layout -------------------------------------------------------------------
def test_kinetics_layout_annotations_and_split_lists(kinetics):
    out = kinetics.out
    records = json.loads((out / "annotations.json").read_text())
    assert len(records) == 66
    with open(out / "annotations.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [r["video_path"] for r in rows] == [r["video_path"] for r in records]
    for row, rec in zip(rows, records):
        for key in ("video_path", "label", "class_name", "caption", "split", "event_start", "event_end"):
            assert row[key] == str(rec[key])
        assert (out / rec["video_path"]).is_file()
        assert rec["video_path"].startswith(rec["class_name"] + "/") and rec["video_path"].endswith(".mp4")
        assert rec["label"] == SYNTH_CLASSES.index(rec["class_name"])
    assert sorted(p.name for p in out.iterdir() if p.is_file()) == sorted(
        ["annotations.json", "annotations.csv", "synth_manifest.json", "train.txt", "val.txt", "test.txt"])
    assert sorted(p.name for p in out.iterdir() if p.is_dir()) == sorted(kinetics.class_names)
    listed = {}
    for split in ("train", "val", "test"):
        lines = (out / f"{split}.txt").read_text().splitlines()
        listed[split] = {line.split()[0] for line in lines}
        assert listed[split] == {r["video_path"] for r in records if r["split"] == split}
        assert all(int(line.split()[1]) == SYNTH_CLASSES.index(line.split("/")[0]) for line in lines)
    assert kinetics.split_counts == {"train": 42, "val": 12, "test": 12}
    assert sum(len(v) for v in listed.values()) == len(set().union(*listed.values())) == 66


def test_mp4_decodes_with_configured_frames_and_an_audio_track(kinetics):
    rec = json.loads((kinetics.out / "annotations.json").read_text())[0]
    frames, info = _decode(kinetics.out / rec["video_path"])
    assert frames.shape == (45, 120, 160, 3)
    assert info["fps"] == 15 and info["codec"] == "h264"
    assert info["audio"] == [("aac", 16000, 1)]


def test_event_window_holds_the_motion_in_decoded_video(kinetics):
    """Share of pixels that change between consecutive frames (by more than 20 levels,
    above compression noise) inside [event_start, event_end) vs the rest frames (neither
    the event nor the short dissolve after it)."""
    manifest = json.loads((kinetics.out / "synth_manifest.json").read_text())
    dissolve_end = {c["video_path"]: c["dissolve_end"] for c in manifest["clips"]}
    ratios: dict[str, list[float]] = {}
    for rec in json.loads((kinetics.out / "annotations.json").read_text()):
        if len(ratios.get(rec["class_name"], [])) == 5:
            continue                                     # 5 clips per class keep it quick
        frames, _ = _decode(kinetics.out / rec["video_path"])
        pixels = frames[:, ::2, ::2].astype(np.int16)      # every other pixel is plenty
        changed = (np.abs(np.diff(pixels, axis=0)).max(axis=3) > 20).mean(axis=(1, 2))
        t = np.arange(1, len(frames))                    # changed[k] compares frame t with t-1
        inside = (t >= rec["event_start"]) & (t < rec["event_end"])
        dissolve = (t >= rec["event_end"]) & (t < dissolve_end[rec["video_path"]])
        rest = ~inside & ~dissolve
        assert rest.sum() >= 10
        ratios.setdefault(rec["class_name"], []).append(changed[inside].mean() / changed[rest].mean())
    for cls, r in ratios.items():
        assert min(r) > 1.5, (cls, r)                    # every clip: more motion inside
    assert np.median(np.concatenate(list(ratios.values()))) > 5


def test_audio_is_loud_in_the_event_and_pitch_names_the_family_only(kinetics):
    sr = SMOKE.sample_rate
    for rec in json.loads((kinetics.out / "annotations.json").read_text()):
        audio = _decode_audio(kinetics.out / rec["video_path"])
        assert abs(len(audio) - 3 * sr) < 2048
        a, b = (int(rec[k] / 15 * sr) for k in ("event_start", "event_end"))
        margin = int(0.03 * sr)
        inside = audio[a + margin:b - margin]
        outside = np.concatenate([audio[: max(a - margin, 0)], audio[b + margin:]])
        rms_in, rms_out = np.sqrt(np.mean(inside**2)), np.sqrt(np.mean(outside**2))
        assert rms_in > 5 * rms_out, rec["video_path"]
        spectrum = np.abs(np.fft.rfft(inside * np.hanning(len(inside))))
        peak = np.fft.rfftfreq(len(inside), 1 / sr)[spectrum.argmax()]
        base = FAMILY_PITCH_HZ[CLASS_FAMILY[rec["class_name"]]]
        assert abs(peak - base) / base < 0.05, (rec["class_name"], peak)
    # direction does not change the pitch: both move_* classes share one family
    assert CLASS_FAMILY["move_left"] == CLASS_FAMILY["move_right"] != CLASS_FAMILY["rotate_cw"]


# ---- honesty: a single frame says nothing, motion says a lot ----------------------------
def _object_stats(frame: np.ndarray) -> np.ndarray:
    """Mean colour and the bright object's centroid and area (backgrounds are muted,
    objects bright): the cheap cues a single-frame model would pick up first."""
    mask = frame.max(axis=2) > 180
    ys, xs = np.nonzero(mask)
    cx, cy = (xs.mean(), ys.mean()) if len(xs) else (frame.shape[1] / 2, frame.shape[0] / 2)
    return np.array([*frame.reshape(-1, 3).mean(axis=0), cx, cy, mask.sum()], dtype=np.float64)


def _nearest_mean_loo_accuracy(x: np.ndarray, y: np.ndarray) -> float:
    """Leave-one-out accuracy of a nearest-class-mean classifier on standardized features."""
    x = (x - x.mean(axis=0)) / (x.std(axis=0) + 1e-9)
    correct = 0
    for i in range(len(x)):
        keep = np.arange(len(x)) != i
        means = np.stack([x[keep & (y == c)].mean(axis=0) for c in np.unique(y)])
        correct += int(np.argmin(((means - x[i]) ** 2).sum(axis=1)) == y[i])
    return correct / len(x)


def test_frames_outside_the_event_are_not_class_informative_but_event_motion_is():
    config = SynthConfig.smoke(seconds=2.0, fps=12)
    first, last, motion, labels = [], [], [], []
    for label, cls in enumerate(config.class_names):
        for i in range(16):
            clip = render_clip(cls, config, clip_seed(7, label, i), audio=False)
            before = _object_stats(clip.frames[0])
            after = _object_stats(clip.frames[clip.event_end - 1])
            start = _object_stats(clip.frames[clip.event_start - 1])
            first.append(before)
            last.append(_object_stats(clip.frames[-1]))         # after the dissolve: a fresh pose
            motion.append(after[3:] - start[3:])                # Δcx, Δcy, Δarea over the event
            labels.append(label)
    y = np.array(labels)
    first_acc = _nearest_mean_loo_accuracy(np.array(first), y)
    motion_acc = _nearest_mean_loo_accuracy(np.array(motion), y)
    chance = 1 / config.classes
    assert first_acc < chance + 0.15, first_acc               # ≈ chance (1/6)
    last_acc = _nearest_mean_loo_accuracy(np.array(last), y)
    assert last_acc < chance + 0.15, last_acc                 # the end state does not linger
    assert motion_acc > 0.6, motion_acc                       # the same cues, differenced, work
    # class means of first-frame position overlap: spread within a class ≫ spread of means
    f = np.array(first)
    for col in (3, 4, 5):
        class_means = np.array([f[y == c, col].mean() for c in range(config.classes)])
        within = np.mean([f[y == c, col].std() for c in range(config.classes)])
        assert class_means.std() < 0.5 * within


def _orientation(frame: np.ndarray) -> tuple[float, float, float]:
    """(angle of the principal axis, centroid x, centroid y) of the bright object, y down."""
    import cv2

    m = cv2.moments((frame.max(axis=2) > 180).astype(np.uint8), binaryImage=True)
    angle = 0.5 * np.arctan2(2 * m["mu11"], m["mu20"] - m["mu02"])
    return angle, m["m10"] / m["m00"], m["m01"] / m["m00"]


@pytest.mark.parametrize("cls, sign", [("rotate_cw", 1), ("rotate_ccw", -1), ("orbit_cw", 1), ("orbit_ccw", -1)])
def test_clockwise_means_clockwise_on_screen(cls, sign):
    """On screen y points down, so a clockwise turn increases the moment angle and a
    clockwise path has a positive shoelace area."""
    look = Appearance("arrow", "white", "plain", "dark grey", "plain")
    background = render_background(look, 160, 120, np.random.default_rng(0))
    event = EventWindow(5, 25)
    track, _ = sample_track(cls, 30, event, 160, 120, np.random.default_rng(1))
    states = np.array([_orientation(f) for f in render_frames(track, look, background, None)])
    if cls.startswith("rotate"):
        turned = np.unwrap(2 * states[event.start - 1:event.end, 0]) / 2
        assert sign * (turned[-1] - turned[0]) > np.radians(60)
    else:
        x, y = states[event.start - 1:event.end, 1], states[event.start - 1:event.end, 2]
        area = 0.5 * np.sum(x[:-1] * y[1:] - x[1:] * y[:-1])
        assert sign * area > 50


# ---- reproducibility -------------------------------------------------------------------
def _tree_bytes(root: Path) -> dict[str, bytes]:
    return {str(p.relative_to(root)): p.read_bytes() for p in sorted(root.rglob("*")) if p.is_file()}


@pytest.mark.parametrize("layout", ["hmdb51", "kinetics"])
def test_same_seed_same_bytes_different_seed_different_bytes(layout, tmp_path):
    a = _tree_bytes(generate(layout, tmp_path / "a", TINY, progress=False, workers=1).out)
    b = _tree_bytes(generate(layout, tmp_path / "b", TINY, progress=False, workers=2).out)
    assert a == b
    other = dataclasses.replace(TINY, seed=TINY.seed + 1)
    c = _tree_bytes(generate(layout, tmp_path / "c", other, progress=False, workers=1).out)
    key = "hmdb51_org.rar" if layout == "hmdb51" else "annotations.json"
    assert c[key] != a[key]


def test_clip_is_a_pure_function_of_its_seed():
    one = render_clip("grow", TINY, 123)
    two = render_clip("grow", TINY, 123)
    assert np.array_equal(one.frames, two.frames) and np.array_equal(one.audio, two.audio)
    assert one.frames.shape == (20, 48, 64, 3) and one.frames.dtype == np.uint8
    assert one.audio.shape == (32000,) and one.audio.dtype == np.float32
    assert not np.array_equal(render_clip("grow", TINY, 124).frames, one.frames)


def test_event_fraction_one_makes_a_trimmed_clip_the_event_in_every_frame():
    """A share of 1: the event is every frame (no rest frame before it, no dissolve
    after), the object moves from frame to frame throughout and the tone sounds throughout."""
    config = dataclasses.replace(TINY, event_fraction=(1.0, 1.0), distractor=False)
    n, sr = config.num_frames, config.sample_rate
    for name in ("move_left", "move_right", "grow"):
        clip = render_clip(name, config, clip_seed(0, 0, 7))
        assert (clip.event_start, clip.event_end, clip.dissolve_end) == (0, n, n)
        step = np.abs(np.diff(clip.frames.astype(np.int16), axis=0)).max(axis=(1, 2, 3))
        assert (step > 20).all(), (name, step)
        windows = clip.audio[: n * sr // config.fps].reshape(n, -1)[1:-1]  # the edge frames hold the fades
        rms = np.sqrt((windows.astype(np.float64) ** 2).mean(axis=1))
        assert (rms > 10 * 0.01).all(), (name, rms.min())
    with pytest.raises(SynthConfigError, match="event_fraction"):
        SynthConfig(event_fraction=(0.5, 1.1))


# ---- configuration and CLI -------------------------------------------------------------
def test_config_rejects_too_many_classes_with_the_limit():
    with pytest.raises(SynthConfigError, match="12 synthetic classes"):
        SynthConfig(classes=13)
    assert SynthConfig.smoke(classes=4).class_names == ("move_left", "move_right", "rotate_cw", "rotate_ccw")
    demo = SynthConfig.demo()
    assert (demo.classes, demo.clips_per_class, demo.num_frames, demo.size) == (10, 66, 150, (320, 240))


def test_cli_generates_and_prints_one_summary_line(tmp_path, capsys):
    code = synth_main(["--layout", "kinetics", "--out", str(tmp_path / "k"), "--seed", "3", "--classes", "2",
                       "--clips-per-class", "3", "--seconds", "2", "--fps", "10", "--size", "64x48",
                       "--workers", "1", "--no-progress"])
    out = capsys.readouterr().out.strip().splitlines()
    assert code == 0 and len(out) == 1 and "6 clips" in out[0]
    assert len(json.loads((tmp_path / "k" / "annotations.json").read_text())) == 6


@pytest.mark.parametrize("argv", [
    ["--layout", "hmdb51", "--classes", "13"],
    ["--layout", "hmdb51", "--size", "big"],
    ["--layout", "avi"],
    ["--layout", "hmdb51", "--clips-per-class", "1"],
])
def test_cli_bad_arguments_exit_1_with_one_line(argv, tmp_path, capsys):
    assert synth_main([*argv, "--out", str(tmp_path / "x")]) == 1
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("synth: error:")
    assert not (tmp_path / "x").exists()


def test_caption_attributes_read_back_every_attribute_make_caption_writes():
    import itertools

    from helpers.synth.caption import caption_attributes, make_caption
    from helpers.synth.scene import BACKGROUND_COLOURS, BACKGROUND_PATTERNS, OBJECT_COLOURS, SHAPES, TEXTURES

    combos = list(itertools.product(OBJECT_COLOURS, TEXTURES, SHAPES, ("quickly", "slowly", None), VERBS,
                                    BACKGROUND_PATTERNS, BACKGROUND_COLOURS))
    for colour, texture, shape, speed, motion, pattern, ground in combos[::29]:  # ~2200 of 64 800
        text = make_caption(motion, Appearance(shape, colour, texture, ground, pattern), speed)
        want = {"colour": colour, "texture": texture, "shape": shape, "speed": speed or "normal", "motion": motion,
                "pattern": pattern, "background": ground}
        assert caption_attributes(text) == want, text
        # a word tokenizer's decoding: lower case, the full stop split off
        assert caption_attributes(text.lower() + " .") == want, text
    garbled = caption_attributes("a red red moves on")
    assert garbled["colour"] == "red" and garbled["shape"] is None and garbled["background"] is None
