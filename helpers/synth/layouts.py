"""How the clips are packed: file names, split assignments and index files for the
two layouts, mirroring the real datasets so the real loading code runs on them.

hmdb51  — ``hmdb51_org.rar`` (a RAR of per-class RARs of ``<class>/<clip>.avi``),
          ``test_train_splits.rar`` (``testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt``,
          lines ``<clip>.avi <tag> `` with HMDB51's trailing space; 1 train, 2 test,
          0 unused) and ``synth_manifest.json`` (ground truth per clip).
kinetics — ``<class>/<clip>.mp4``, ``annotations.json``/``.csv`` and ``{train,val,test}.txt``
          (lines ``<video_path> <label>``).
"""
from __future__ import annotations

import base64
import csv
import hashlib
import io
import json

import numpy as np

HMDB51_SPLITS_DIR = "testTrainMulti_7030_splits"
HMDB51_TRAIN, HMDB51_TEST, HMDB51_UNUSED = 1, 2, 0
ANNOTATION_FIELDS = ("video_path", "label", "class_name", "caption", "split",
                     "event_start", "event_end", "num_frames", "fps", "seed")


# ---- names ---------------------------------------------------------------------------
def hmdb51_clip_name(class_name: str, index: int) -> str:
    """HMDB51-style name ``<video>_<class>_<body>_<camera>_<people>_<view>_<quality>_<n>.avi``:
    the whole object is visible (f), no camera motion (nm), one actor (np1), front view
    (fr), good quality (goo) — all true of every generated clip."""
    return f"Synth{index:04d}_{class_name}_f_nm_np1_fr_goo_0.avi"


def kinetics_clip_name(seed: int, seconds: float) -> str:
    """Kinetics-style ``<youtube id>_<start>_<end>.mp4`` with an 11-character id derived
    from the clip seed (URL-safe base64, like YouTube's)."""
    digest = hashlib.sha256(str(seed).encode()).digest()
    youtube_id = base64.urlsafe_b64encode(digest).decode()[:11]
    return f"{youtube_id}_{0:06d}_{int(round(seconds)):06d}.mp4"


# ---- split assignments -------------------------------------------------------------
def hmdb51_split_counts(num_clips: int) -> tuple[int, int, int]:
    """(train, test, unused) per class: like HMDB51 (70 train + 30 test of ≥101 clips,
    the rest unused), at least one clip is left unused and the used ones split 70/30,
    with at least one train and one test clip (3 clips: 1/1/1, 4: 2/1/1)."""
    if num_clips < 3:
        raise ValueError(f"a class needs at least 3 clips (train, test, unused), got {num_clips}")
    unused = max(1, int(round(num_clips / 11)))
    used = num_clips - unused
    train = min(max(1, int(round(0.7 * used))), used - 1)
    return train, used - train, unused


def hmdb51_split_tags(num_clips: int, seed: int, label: int) -> list[list[int]]:
    """Tags for splits 1, 2, 3 (one list of ``num_clips`` tags each). The three splits
    use different random assignments (redrawn if one happens to repeat another)."""
    train, test, unused = hmdb51_split_counts(num_clips)
    base = np.array([HMDB51_TRAIN] * train + [HMDB51_TEST] * test + [HMDB51_UNUSED] * unused)
    rng = np.random.default_rng([int(seed), int(label), 7030])
    splits: list[list[int]] = []
    for _ in range(3):
        for _attempt in range(100):
            tags = rng.permutation(base).tolist()
            if tags not in splits:
                break
        splits.append(tags)
    return splits


def kinetics_split_names(num_clips: int, seed: int, label: int) -> list[str]:
    """"train"/"val"/"test" per clip: about 70/15/15, at least one val and one test."""
    n_val = max(1, int(round(0.15 * num_clips)))
    n_test = max(1, int(round(0.15 * num_clips)))
    names = ["train"] * (num_clips - n_val - n_test) + ["val"] * n_val + ["test"] * n_test
    rng = np.random.default_rng([int(seed), int(label), 400])
    return [names[i] for i in rng.permutation(num_clips)]


# ---- index files ---------------------------------------------------------------------
def hmdb51_split_file(clip_names: list[str], tags: list[int]) -> bytes:
    """One ``<class>_test_splitN.txt``: sorted clip names, ``name tag `` per line."""
    lines = [f"{name} {tag} \n" for name, tag in sorted(zip(clip_names, tags))]
    return "".join(lines).encode("ascii")


def annotations_csv(records: list[dict]) -> bytes:
    buf = io.StringIO(newline="")
    writer = csv.DictWriter(buf, fieldnames=ANNOTATION_FIELDS, extrasaction="ignore", lineterminator="\n")
    writer.writeheader()
    writer.writerows(records)
    return buf.getvalue().encode("utf-8")


def annotations_json(records: list[dict]) -> bytes:
    rows = [{k: r[k] for k in ANNOTATION_FIELDS} for r in records]
    return (json.dumps(rows, indent=1) + "\n").encode("utf-8")


def split_list(records: list[dict], split: str) -> bytes:
    """``train.txt``/``val.txt``/``test.txt``: ``<video_path> <label>`` per line."""
    return "".join(f"{r['video_path']} {r['label']}\n" for r in records if r["split"] == split).encode("utf-8")


def manifest_json(layout: str, config_dict: dict, class_names: list[str], records: list[dict]) -> bytes:
    """``synth_manifest.json``: the run's config, the classes in label order, and per clip
    its class, label, caption, event window (frames, half-open), fps, frame count,
    seed and drawn attributes."""
    doc = {
        "layout": layout,
        "config": config_dict,
        "classes": class_names,
        "event_window": "frames [event_start, event_end), audio tone over the same seconds; "
                        "frames [event_end, dissolve_end) cross-fade to a fresh rest pose",
        "clips": records,
    }
    return (json.dumps(doc, indent=1) + "\n").encode("utf-8")
