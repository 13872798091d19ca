"""Batches that survive broken clips, and a log that makes sure nobody misses them.

A dataset item that cannot be loaded comes back as a :class:`FailedItem` (path and
reason) instead of raising inside a worker, which would kill the whole epoch for one
bad file. :func:`collate_clips` drops those items, stacks the rest into the batch the
``Batches`` contract describes, and carries the failures along under
``batch["failures"]``; :class:`helpers.datasets.loader.ClipLoader` removes that key
and records them in a :class:`FailureLog` that the epoch summary prints.
"""
from __future__ import annotations

from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

import torch
from torch.utils.data import default_collate

FAILURES_KEY = "failures"
BATCH_KEYS = (
    "video", "frame_indices", "frame_times", "audio", "audio_mel", "audio_mask",
    "label", "caption", "path",
)


@dataclass(frozen=True)
class FailedItem:
    """What a dataset returns for a clip it could not load (picklable, tiny)."""

    path: str
    reason: str
    index: int = -1

    def __str__(self) -> str:
        return f"{self.path}: {self.reason}"


def is_failed(item: Any) -> bool:
    return isinstance(item, FailedItem)


def collate_clips(items: Sequence[dict | FailedItem]) -> dict[str, Any]:
    """Stack the good items (``default_collate``: tensors stacked, strings listed) and
    put the failed ones under ``"failures"``. A batch where every item failed holds only
    ``{"failures": [...]}``; :class:`ClipLoader` skips it after logging."""
    good = [it for it in items if not is_failed(it)]
    failed = [it for it in items if is_failed(it)]
    batch: dict[str, Any] = default_collate(good) if good else {}
    batch[FAILURES_KEY] = failed
    return batch


def batch_size_of(batch: dict[str, Any]) -> int:
    """Number of good clips in a collated batch (0 when they all failed)."""
    video = batch.get("video")
    return int(video.shape[0]) if isinstance(video, torch.Tensor) else 0


class FailureLog:
    """Failed clips of one epoch: a count, reasons grouped, and a printable summary.

    >>> log = FailureLog(); log.record([FailedItem("a.avi", "zero-byte file")])
    >>> print(log.summary())
    1 clip failed:
      a.avi: zero-byte file
    """

    def __init__(self) -> None:
        self.items: list[FailedItem] = []

    def record(self, failures: Iterable[FailedItem]) -> None:
        self.items.extend(failures)

    def __len__(self) -> int:
        return len(self.items)

    @property
    def count(self) -> int:
        return len(self.items)

    @property
    def paths(self) -> list[str]:
        return [f.path for f in self.items]

    def reasons(self) -> Counter[str]:
        """How many clips failed for each reason (the first line of the message)."""
        return Counter(f.reason.splitlines()[0] if f.reason else "" for f in self.items)

    def summary(self, max_items: int = 20) -> str:
        """``"2 clips failed:\\n  path: reason\\n  …"`` or ``"0 clips failed"``."""
        n = len(self.items)
        if n == 0:
            return "0 clips failed"
        head = f"{n} clip{'s' if n != 1 else ''} failed:"
        lines = [f"  {f}" for f in self.items[:max_items]]
        if n > max_items:
            lines.append(f"  … and {n - max_items} more")
        return "\n".join([head, *lines])

    def __str__(self) -> str:
        return self.summary()

    def __repr__(self) -> str:
        return f"FailureLog({len(self.items)} failed)"


def batch_shapes(batch: dict[str, Any]) -> dict[str, str]:
    """``{key: "float32 (4, 3, 16, 112, 112)"}`` or ``"list[str] × 4"``: what a notebook
    shows to check a batch against the contract."""
    out = {}
    for key, value in batch.items():
        if isinstance(value, torch.Tensor):
            out[key] = f"{str(value.dtype).replace('torch.', '')} {tuple(value.shape)}"
        elif isinstance(value, list):
            kinds = sorted({type(v).__name__ for v in value})
            out[key] = f"list[{'|'.join(kinds) or '-'}] × {len(value)}"
        else:
            out[key] = type(value).__name__
    return out
