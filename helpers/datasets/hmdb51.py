"""HMDB51 as a torch Dataset: exactly the clips a split file lists for train or test.

``root`` holds the extracted clips, one folder per class (``<root>/<class>/<clip>.avi``),
``splits_dir`` the ``<class>_test_split{1,2,3}.txt`` files. Class indices follow the
sorted class names (51 on the real data); tag-0 (unused) clips are left out, giving
3,570 train / 1,530 test clips per split on the real data. A clip a split file lists
but the disk lacks is an error raised at construction (:class:`MissingClipsError`,
listing them), not a silent skip: it would change the benchmark.
HMDB51 clips have no audio track, so ``audio`` is zeros and ``audio_mask`` False.
"""
from __future__ import annotations

from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from helpers.datasets.base import ClipRecord, SamplerName, Sampler, VideoClipDataset
from helpers.datasets.splits import read_split


class MissingClipsError(FileNotFoundError):
    """Clips listed in the split files that are not on disk."""

    def __init__(self, root: Path, missing: list[str], splits_dir: Path | None = None) -> None:
        self.root = Path(root)
        self.missing = missing
        self.splits_dir = None if splits_dir is None else Path(splits_dir)
        shown = "\n  ".join(missing[:20])
        more = f"\n  … and {len(missing) - 20} more" if len(missing) > 20 else ""
        where = "" if splits_dir is None else f" in {splits_dir}"
        super().__init__(
            f"{len(missing)} clip(s) listed in the split files{where} are missing under {root}:\n  {shown}{more}"
        )


def hmdb51_records(
    root: Path, splits_dir: Path, split: int, train: bool, captions: Mapping[str, str] | None = None
) -> tuple[list[ClipRecord], list[str]]:
    """``(records, classes)`` for one split and side; raises :class:`MissingClipsError`."""
    root = Path(root)
    table = read_split(Path(splits_dir), split)
    classes = sorted(table)
    side = "train" if train else "test"
    records: list[ClipRecord] = []
    missing: list[str] = []
    for label, cls in enumerate(classes):
        for clip in table[cls][side]:
            path = root / cls / clip
            if not path.is_file():
                missing.append(f"{cls}/{clip}")
                continue
            caption = (captions or {}).get(clip, "") or (captions or {}).get(f"{cls}/{clip}", "")
            records.append(ClipRecord(str(path), label, caption))
    if missing:
        raise MissingClipsError(root, missing, splits_dir)
    return records, classes


class HMDB51(VideoClipDataset):
    """HMDB51 split ``split`` (1, 2 or 3), train or test side.

    >>> ds = HMDB51(paths.videos_dir, paths.splits_dir, split=1, train=True)
    >>> item = ds[0]; item["video"].shape
    torch.Size([3, 16, 112, 112])

    ``captions`` optionally maps ``clip`` or ``class/clip`` to a caption (the real data
    has none: ``""``). Other options: see :class:`VideoClipDataset`.
    """

    def __init__(
        self,
        root: str | Path,
        splits_dir: str | Path,
        split: int = 1,
        train: bool = True,
        num_frames: int = 16,
        sampler: SamplerName | Sampler = "auto",
        transform: Callable | None = None,
        with_audio: bool = False,
        cache: Any = None,
        index_cache: bool | str | Path = True,
        captions: Mapping[str, str] | None = None,
        **kwargs: Any,
    ) -> None:
        self.root = Path(root)
        self.splits_dir = Path(splits_dir)
        self.split = split
        records, classes = hmdb51_records(self.root, self.splits_dir, split, train, captions)
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
