"""Parse the official HMDB51 split files.

``testTrainMulti_7030_splits/<class>_test_split{1,2,3}.txt`` hold one line per clip,
``<clip>.avi <tag>`` with tag 1 = train, 2 = test, 0 = unused (70 / 30 / 2 per class
per split on the real data: 3,570 train and 1,530 test clips over 51 classes). The
official files carry a trailing space on every line; copies passed through Windows
carry CRLF; both are accepted. Anything else is a :class:`SplitFormatError` naming the
file and the line, because a silently skipped line would shift every count.
"""
from __future__ import annotations

import re
from pathlib import Path

SPLITS = (1, 2, 3)
TAGS: dict[str, str] = {"1": "train", "2": "test", "0": "unused"}
_FILE_RE = re.compile(r"^(?P<cls>.+)_test_split(?P<split>[123])\.txt$")


class SplitFormatError(ValueError):
    """A split file that cannot be read as ``<clip> <0|1|2>`` lines."""

    def __init__(self, path: Path, line_no: int | None, reason: str) -> None:
        self.path = Path(path)
        self.line_no = line_no
        self.reason = reason
        where = f"{self.path}:{line_no}" if line_no is not None else str(self.path)
        super().__init__(f"{where}: {reason}")


def split_files(splits_dir: Path, split: int) -> dict[str, Path]:
    """``{class_name: path}`` of every ``<class>_test_split<split>.txt`` in ``splits_dir``."""
    if split not in SPLITS:
        raise ValueError(f"split must be 1, 2 or 3, got {split!r}")
    splits_dir = Path(splits_dir)
    if not splits_dir.is_dir():
        raise FileNotFoundError(f"split folder not found: {splits_dir}")
    found: dict[str, Path] = {}
    for path in sorted(splits_dir.iterdir()):
        m = _FILE_RE.match(path.name)
        if m and int(m["split"]) == split and path.is_file():
            found[m["cls"]] = path
    if not found:
        raise FileNotFoundError(f"no *_test_split{split}.txt files in {splits_dir}")
    return found


def parse_split_file(path: Path) -> dict[str, str]:
    """``{clip_name: "train" | "test" | "unused"}`` in file order.

    The tag is the last whitespace-separated token, the clip name everything before it
    (so odd characters in names survive). Blank lines are skipped.
    """
    path = Path(path)
    raw = path.read_bytes()
    try:
        text = raw.decode("utf-8")
    except UnicodeDecodeError:  # names are file names: keep the bytes round-trippable
        text = raw.decode("utf-8", errors="surrogateescape")
    clips: dict[str, str] = {}
    for line_no, line in enumerate(text.splitlines(), start=1):
        line = line.strip()
        if not line:
            continue
        parts = line.rsplit(maxsplit=1)
        if len(parts) != 2:
            raise SplitFormatError(path, line_no, f"expected '<clip>.avi <0|1|2>', got {line!r}")
        name, tag = parts
        if tag not in TAGS:
            raise SplitFormatError(path, line_no, f"tag must be 0, 1 or 2, got {tag!r} in {line!r}")
        if name in clips:
            raise SplitFormatError(path, line_no, f"clip {name!r} is listed twice")
        clips[name] = TAGS[tag]
    return clips


def read_split(splits_dir: Path, split: int) -> dict[str, dict[str, list[str]]]:
    """``{class: {"train": [clip, …], "test": [clip, …]}}`` for one split, classes
    sorted; unused (tag 0) clips are left out."""
    out: dict[str, dict[str, list[str]]] = {}
    for cls, path in split_files(splits_dir, split).items():
        tags = parse_split_file(path)
        out[cls] = {
            "train": [c for c, t in tags.items() if t == "train"],
            "test": [c for c, t in tags.items() if t == "test"],
        }
    return out


def split_counts(splits_dir: Path, split: int) -> dict[str, dict[str, int]]:
    """Per-class ``{"train": n, "test": n, "unused": n}`` (classes sorted); sum them
    with :func:`total_counts`."""
    counts: dict[str, dict[str, int]] = {}
    for cls, path in split_files(splits_dir, split).items():
        row = {"train": 0, "test": 0, "unused": 0}
        for tag in parse_split_file(path).values():
            row[tag] += 1
        counts[cls] = row
    return counts


def total_counts(counts: dict[str, dict[str, int]]) -> dict[str, int]:
    """Sum per-class counts: ``{"train": 3570, "test": 1530, "unused": 1666}`` on HMDB51 split 1."""
    total = {"train": 0, "test": 0, "unused": 0}
    for row in counts.values():
        for k in total:
            total[k] += row.get(k, 0)
    return total


def split_table(splits_dir: Path, split: int):
    """Per-class counts as a pandas DataFrame with a final ``total`` row (for notebooks)."""
    import pandas as pd

    counts = split_counts(splits_dir, split)
    table = pd.DataFrame.from_dict(counts, orient="index")[["train", "test", "unused"]]
    table.loc["total"] = pd.Series(total_counts(counts))
    return table.rename_axis(f"split {split}")
