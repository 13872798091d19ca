"""The service's models and its bounded queue.

``workers`` threads each own one model, loaded once at start (in the service, a
:class:`~helpers.serving.process.WorkerProcess`: the thread only waits for its process),
so a worker never shares a model with another and never reloads it. A model that
runs its calls one after another by itself (a worker process) says how many may be
handed to it at once (``concurrent_calls``, default 1): with two, its process starts the
next request as soon as it finishes one, instead of waiting for this process to take
the answer and hand over the next upload.

A request is *admitted* before its upload is read: at most ``workers + queue_size``
requests are admitted at a time (running, waiting for a worker, or still uploading);
one more is refused at once with :class:`PoolFull` (the app answers 503 with
``Retry-After``) instead of piling up memory and latency.
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
    docstring). ``run(fn)`` calls ``fn(model)`` on a free slot's model, in its thread."""

    def __init__(self, load: Callable[[int], Any], workers: int = 1, queue_size: int = 8,
                 retry_after: int = 1) -> None:
        if workers < 1 or queue_size < 0:
            raise ValueError(f"workers must be ≥ 1 and queue_size ≥ 0, got {workers} and {queue_size}")
        self.workers, self.queue_size, self.retry_after = workers, queue_size, retry_after
        self.models = [load(i) for i in range(workers)]
        self._free: queue.SimpleQueue[Any] = queue.SimpleQueue()
        slots = [m for m in self.models for _ in range(getattr(m, "concurrent_calls", 1))]
        for model in slots:
            self._free.put(model)
        self._executor = ThreadPoolExecutor(len(slots), thread_name_prefix="helpers-serve-worker")
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
        model = self._free.get()  # never waits: as many slots as executor threads
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
        """Finish the running calls, then close every model that has a ``close``."""
        self._executor.shutdown(wait=True, cancel_futures=True)
        for model in self.models:
            if hasattr(model, "close"):
                model.close()


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
