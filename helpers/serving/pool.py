"""The service's models and its bounded queue.

``workers`` threads each own one loaded model (loaded once, at start), so a worker never
shares a model with another thread and never reloads it. A request is *admitted* before
its upload is read: at most ``workers + queue_size`` requests are admitted at a time
(running, waiting for a worker, or still uploading); one more is refused at once with
:class:`PoolFull` (the app answers 503 with ``Retry-After``) instead of piling up memory
and latency. PyTorch, ONNX Runtime and the video decoder release the GIL while they
work, so threads keep the cores busy without a process per worker.
"""
from __future__ import annotations

import asyncio
import queue
import threading
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

T = TypeVar("T")


class PoolFull(RuntimeError):
    """Every worker is busy and the queue is full: try again after ``retry_after`` s."""

    def __init__(self, capacity: int, retry_after: int) -> None:
        self.capacity, self.retry_after = capacity, retry_after
        super().__init__(f"the service is busy: {capacity} requests in progress or queued; "
                         f"retry in {retry_after} s")


class ModelPool:
    """``workers`` models made by ``load(i)`` and the admission counter (see the module
    docstring). ``run(fn)`` calls ``fn(model)`` on a free worker's model in its thread;
    ``threads``: PyTorch threads in each worker (None: PyTorch's default)."""

    def __init__(self, load: Callable[[int], Any], workers: int = 1, queue_size: int = 8,
                 retry_after: int = 1, threads: int | None = None) -> None:
        if workers < 1 or queue_size < 0:
            raise ValueError(f"workers must be ≥ 1 and queue_size ≥ 0, got {workers} and {queue_size}")
        self.workers, self.queue_size, self.retry_after = workers, queue_size, retry_after
        self.models = [load(i) for i in range(workers)]
        self._free: queue.SimpleQueue[Any] = queue.SimpleQueue()
        for model in self.models:
            self._free.put(model)
        self._executor = ThreadPoolExecutor(workers, thread_name_prefix="helpers-serve-worker",
                                            initializer=_set_threads, initargs=(threads,))
        self._lock = threading.Lock()
        self._admitted = 0
        self.served = 0
        self.refused = 0

    @property
    def capacity(self) -> int:
        return self.workers + self.queue_size

    @property
    def in_flight(self) -> int:
        """Requests admitted and not finished (running, queued or uploading)."""
        return self._admitted

    def admit(self) -> "Admission":
        """A slot for one request (use as a context manager), or :class:`PoolFull`."""
        with self._lock:
            if self._admitted >= self.capacity:
                self.refused += 1
                raise PoolFull(self.capacity, self.retry_after)
            self._admitted += 1
        return Admission(self)

    def _release(self) -> None:
        with self._lock:
            self._admitted -= 1

    def _call(self, fn: Callable[[Any], T]) -> T:
        model = self._free.get()  # never waits: as many models as executor threads
        try:
            return fn(model)
        finally:
            self._free.put(model)

    async def run(self, fn: Callable[[Any], T]) -> T:
        """``fn(model)`` on a worker thread; waits (without blocking the event loop) in
        the executor's queue when every worker is busy."""
        result = await asyncio.wrap_future(self._executor.submit(self._call, fn))
        with self._lock:
            self.served += 1
        return result

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)


def _set_threads(threads: int | None) -> None:
    """PyTorch's intra-op threads for this worker thread (OpenMP keeps the count per
    thread: set in the main thread, it does not reach the workers)."""
    if threads:
        import torch

        torch.set_num_threads(threads)


class Admission:
    """Holds one of the pool's slots until the ``with`` block ends."""

    def __init__(self, pool: ModelPool) -> None:
        self._pool: ModelPool | None = pool

    def release(self) -> None:
        if self._pool is not None:
            self._pool._release()
            self._pool = None

    def __enter__(self) -> "Admission":
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
