"""What a run was trained on, so a checkpoint is never reused for other data.

A run records a small dict (saved in every checkpoint under ``"data"``): the data
folder, the file that defines the classes and the train/val lists (the split files of
split N for the MoE model, the annotation file for the multi-modal one) and a SHA-1 of
those files. Two runs used the same data exactly when the digests match; a folder that
moved keeps its digest. Checkpoints written before this record existed are compared by
class names where those can be read cheaply, else reported as unknown.
"""
from __future__ import annotations

import hashlib
import re
from pathlib import Path
from typing import Any, Literal

from helpers.training.config import TrainConfig

Match = Literal["same", "other", "unknown"]


def data_record(config: TrainConfig, data_dir: Path) -> dict[str, Any]:
    """The fingerprint of what ``config`` trains on in ``data_dir`` (cheap: reads only
    the split or annotation files, never a clip)."""
    data_dir = Path(data_dir)
    digest = hashlib.sha1()
    if config.model == "moe":
        from helpers.datasets.splits import read_split
        from helpers.training.experiment import find_splits_dir

        source = find_splits_dir(data_dir)
        files = sorted(source.glob(f"*_split{config.split}.txt"))
        for f in files:
            digest.update(f.name.encode() + b"\0" + f.read_bytes() + b"\0")
        classes = sorted(read_split(source, config.split))
        kind = "hmdb51-split"
    else:
        from helpers.training.experiment import find_annotations

        source = find_annotations(data_dir)
        digest.update(source.read_bytes())
        classes = []
        kind = "annotations"
    return {"kind": kind, "dir": str(data_dir.resolve()), "source": str(source.resolve()),
            "split": config.split, "digest": digest.hexdigest(), "classes": classes}


def compare(state: dict[str, Any], record: dict[str, Any]) -> Match:
    """Whether the checkpoint ``state`` was trained on the data ``record`` describes."""
    saved = state.get("data")
    if isinstance(saved, dict) and saved.get("digest"):
        return "same" if saved["digest"] == record["digest"] and saved.get("kind") == record["kind"] else "other"
    names = list(state.get("class_names") or [])
    if names and record.get("classes"):
        return "same" if names == list(record["classes"]) else "other"
    return "unknown"


def describe(state: dict[str, Any]) -> str:
    """One phrase naming the data a checkpoint was trained on."""
    saved = state.get("data")
    names = list(state.get("class_names") or [])
    classes = f"{len(names)} classes" + (f" ({', '.join(names[:4])}{', …' if len(names) > 4 else ''})" if names else "")
    if isinstance(saved, dict) and saved.get("dir"):
        return f"{classes} from {saved['dir']} (data {saved.get('digest', '')[:8]})"
    return f"{classes} (no data fingerprint recorded)"


def data_tag(record: dict[str, Any]) -> str:
    """A short, file-name-safe name for the data: its folder name and digest prefix,
    e.g. ``hmdb51-1a2b3c4d`` (a ``videos``/``clips`` folder is named by its parent)."""
    folder = Path(record["dir"])
    name = folder.parent.name if folder.name in ("videos", "clips", "") else folder.name
    name = re.sub(r"[^A-Za-z0-9_.-]+", "_", name).strip("._-") or "data"
    return f"{name[:40]}-{record['digest'][:8]}"
