"""DataLoader defaults that keep a GPU fed, and failures that are never silent.

:func:`make_loader` picks worker count from the CPUs this process may use, pins memory
when CUDA is there, keeps workers alive between epochs (``persistent_workers``) and
prefetches a few batches per worker. Each worker limits torch/OpenCV to one thread so
``num_workers`` processes do not fight over the cores. The dataset is pickled to the
workers; readers are opened inside them, per item.

It returns a :class:`ClipLoader`: iterate it like a DataLoader; the batches are exactly
the ``Batches`` contract (the ``failures`` key that :func:`collate_clips` adds is taken
out) and the clips that failed this epoch are in ``loader.failures`` (a
:class:`FailureLog`; ``print(loader.failures.summary())`` at the end of an epoch).
A batch whose clips all failed is skipped (after being logged).
"""
from __future__ import annotations

import os
from collections.abc import Callable, Iterator
from typing import Any

import torch
from torch.utils.data import DataLoader, Dataset

from helpers.datasets.collate import FAILURES_KEY, FailureLog, batch_size_of, collate_clips


def available_cpus() -> int:
    """CPUs this process may run on (respects affinity/cgroups where Python can see it)."""
    try:
        return len(os.sched_getaffinity(0))
    except AttributeError:  # macOS, Windows
        return os.cpu_count() or 1


def default_num_workers(max_workers: int = 8) -> int:
    """One worker per CPU, leaving one for the main process (training loop), at most
    ``max_workers`` (beyond ~8, decoding rarely is the bottleneck and RAM is)."""
    return max(1, min(max_workers, available_cpus() - 1))


def worker_init(worker_id: int) -> None:
    """Runs in each worker: one thread for torch and OpenCV inside it."""
    torch.set_num_threads(1)
    try:
        import cv2

        cv2.setNumThreads(1)
    except ImportError:  # OpenCV is optional at runtime
        pass


class ClipLoader:
    """A DataLoader whose batches follow the ``Batches`` contract and whose failed clips
    land in :attr:`failures` (reset at the start of each epoch; :attr:`total_failures`
    counts every epoch)."""

    def __init__(self, loader: DataLoader) -> None:
        self.loader = loader
        self.failures = FailureLog()
        self.total_failures = 0

    @property
    def dataset(self) -> Dataset:
        return self.loader.dataset

    @property
    def batch_size(self) -> int | None:
        return self.loader.batch_size

    def __len__(self) -> int:
        return len(self.loader)

    def __iter__(self) -> Iterator[dict[str, Any]]:
        self.failures = FailureLog()
        for batch in self.loader:
            failed = batch.pop(FAILURES_KEY, [])
            if failed:
                self.failures.record(failed)
                self.total_failures += len(failed)
            if batch_size_of(batch) == 0:
                continue
            yield batch

    def __repr__(self) -> str:
        l = self.loader
        return (
            f"ClipLoader(batch_size={l.batch_size}, num_workers={l.num_workers}, "
            f"pin_memory={l.pin_memory}, persistent_workers={l.persistent_workers}, "
            f"prefetch_factor={l.prefetch_factor})"
        )


def make_loader(
    dataset: Dataset,
    batch_size: int,
    train: bool,
    num_workers: int | None = None,
    *,
    pin_memory: bool | None = None,
    persistent_workers: bool | None = None,
    prefetch_factor: int | None = None,
    drop_last: bool = False,
    seed: int | None = None,
    collate_fn: Callable = collate_clips,
    **kwargs: Any,
) -> ClipLoader:
    """A :class:`ClipLoader` over ``dataset``: shuffled when ``train``; workers
    ``default_num_workers()`` unless given (0 = load in this process); ``pin_memory``
    when CUDA is available; ``persistent_workers`` and ``prefetch_factor=4`` with
    workers; ``seed`` fixes the shuffle order and the workers' random streams."""
    if batch_size < 1:
        raise ValueError(f"batch_size must be ≥ 1, got {batch_size}")
    workers = default_num_workers() if num_workers is None else int(num_workers)
    if pin_memory is None:
        pin_memory = torch.cuda.is_available()
    if workers > 0:
        kwargs.setdefault("worker_init_fn", worker_init)
        kwargs["persistent_workers"] = True if persistent_workers is None else persistent_workers
        kwargs["prefetch_factor"] = 4 if prefetch_factor is None else prefetch_factor
    generator = None
    if seed is not None:
        generator = torch.Generator()
        generator.manual_seed(seed)
    loader = DataLoader(
        dataset,
        batch_size=batch_size,
        shuffle=train,
        num_workers=workers,
        pin_memory=pin_memory,
        drop_last=drop_last,
        collate_fn=collate_fn,
        generator=generator,
        **kwargs,
    )
    return ClipLoader(loader)
