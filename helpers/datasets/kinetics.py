"""Kinetics-style datasets: clips listed in an annotation file, or plain class folders.

Annotation files (JSON or CSV) have one row per clip with ``video_path`` (relative to
the annotation file's folder unless absolute, or to ``root`` when given), ``label``
(int), ``class_name``, ``caption`` and optionally ``split`` (train/val/test). JSON may
be a list of rows or an object holding it under ``clips``/``annotations``/``videos``/
``items``. Class indices come from the file (every row, before filtering by split, so
train and test agree); a label that names two classes is an error.

Class folders (``<root>/<class>/<clip>.<ext>``): classes are the sorted folder names,
captions empty.
"""
from __future__ import annotations

import csv
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

from helpers.datasets.base import ClipRecord, SamplerName, Sampler, VideoClipDataset

VIDEO_EXTENSIONS = (
    ".mp4", ".avi", ".mkv", ".webm", ".mov", ".mpg", ".mpeg", ".wmv", ".flv", ".3gp", ".m4v", ".ogv",
)
REQUIRED = ("video_path", "label", "class_name")


class AnnotationError(ValueError):
    """An annotation file that cannot be read (path and what is wrong)."""

    def __init__(self, path: Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def read_annotations(path: Path) -> list[dict[str, Any]]:
    """Rows of a ``.json`` or ``.csv`` annotation file, as dicts."""
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"annotation file not found: {path}")
    suffix = path.suffix.lower()
    try:
        if suffix == ".json":
            data = json.loads(path.read_text(encoding="utf-8"))
            if isinstance(data, dict):
                for key in ("clips", "annotations", "videos", "items"):
                    if isinstance(data.get(key), list):
                        data = data[key]
                        break
            if not isinstance(data, list):
                raise AnnotationError(path, "expected a list of rows (or an object with a 'clips' list)")
            rows = data
        elif suffix == ".csv":
            with open(path, newline="", encoding="utf-8") as fh:
                rows = list(csv.DictReader(fh))
        else:
            raise AnnotationError(path, f"unsupported annotation format {suffix!r} (use .json or .csv)")
    except (ValueError, UnicodeDecodeError) as exc:
        if isinstance(exc, AnnotationError):
            raise
        raise AnnotationError(path, f"cannot parse: {exc}") from exc
    for n, row in enumerate(rows, start=1):
        if not isinstance(row, dict):
            raise AnnotationError(path, f"row {n} is not an object: {row!r}")
        lacking = [k for k in REQUIRED if row.get(k) in (None, "")]
        if lacking:
            raise AnnotationError(path, f"row {n} lacks {', '.join(lacking)}")
    return rows


def annotation_records(
    annotations: Path, root: Path | None = None, split: str | None = None
) -> tuple[list[ClipRecord], list[str]]:
    """``(records, classes)`` from an annotation file, filtered to ``split`` if given."""
    annotations = Path(annotations)
    base = Path(root) if root is not None else annotations.parent
    rows = read_annotations(annotations)
    names: dict[int, str] = {}
    for n, row in enumerate(rows, start=1):
        try:
            label = int(row["label"])
        except (TypeError, ValueError):
            raise AnnotationError(annotations, f"row {n}: label {row['label']!r} is not an integer") from None
        if label < 0:
            raise AnnotationError(annotations, f"row {n}: negative label {label}")
        name = str(row["class_name"])
        if names.setdefault(label, name) != name:
            raise AnnotationError(annotations, f"row {n}: label {label} is both {names[label]!r} and {name!r}")
    if len(set(names.values())) != len(names):
        raise AnnotationError(annotations, "one class_name has several labels")
    classes = [names.get(i, f"<unused label {i}>") for i in range(max(names) + 1)] if names else []
    if split is not None:
        if rows and not any("split" in r for r in rows):
            raise AnnotationError(annotations, f"split={split!r} asked but the file has no 'split' field")
        rows = [r for r in rows if str(r.get("split", "")).strip() == split]
    records = []
    for row in rows:
        p = Path(str(row["video_path"]))
        path = p if p.is_absolute() else base / p
        records.append(ClipRecord(str(path), int(row["label"]), str(row.get("caption") or "")))
    return records, classes


def folder_records(root: Path, extensions: tuple[str, ...] = VIDEO_EXTENSIONS) -> tuple[list[ClipRecord], list[str]]:
    """``(records, classes)`` from ``<root>/<class>/<clip>``: sorted class folders."""
    root = Path(root)
    if not root.is_dir():
        raise FileNotFoundError(f"dataset folder not found: {root}")
    classes = sorted(p.name for p in root.iterdir() if p.is_dir() and not p.name.startswith("."))
    if not classes:
        raise FileNotFoundError(f"no class folders under {root}")
    records = [
        ClipRecord(str(f), label)
        for label, cls in enumerate(classes)
        for f in sorted((root / cls).iterdir())
        if f.is_file() and f.suffix.lower() in extensions
    ]
    return records, classes


class KineticsStyle(VideoClipDataset):
    """Annotated clips with audio and captions (Kinetics-style layout).

    >>> train = KineticsStyle(root, annotations=root / "annotations.json", split="train")
    >>> folders = KineticsStyle(root)   # no annotations: class folders

    Audio is on by default (``with_audio=True``). Other options: see
    :class:`VideoClipDataset`.
    """

    def __init__(
        self,
        root: str | Path,
        annotations: str | Path | None = None,
        split: str | None = None,
        train: bool | None = None,
        num_frames: int = 16,
        sampler: SamplerName | Sampler = "auto",
        transform: Callable | None = None,
        with_audio: bool = True,
        cache: Any = None,
        index_cache: bool | str | Path = True,
        **kwargs: Any,
    ) -> None:
        self.root = Path(root)
        self.annotations = Path(annotations) if annotations is not None else None
        self.split = split
        if self.annotations is not None:
            records, classes = annotation_records(self.annotations, self.root, split)
        else:
            if split is not None:
                raise ValueError("split needs an annotation file (class folders carry no split)")
            records, classes = folder_records(self.root)
        if train is None:
            train = split == "train"
        super().__init__(
            records,
            classes,
            train=train,
            num_frames=num_frames,
            sampler=sampler,
            transform=transform,
            with_audio=with_audio,
            cache=cache,
            index_cache=index_cache,
            index_root=kwargs.pop("index_root", self.root),
            **kwargs,
        )
