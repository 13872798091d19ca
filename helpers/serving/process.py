"""A :class:`~helpers.serving.worker.ModelWorker` in a process of its own.

The service's event loop (HTTP parsing, the multipart upload, the JSON answer) and a
prediction are both Python; in one interpreter they take turns on its lock, and a
small model's prediction is mostly Python between kernels. In a worker process the
prediction keeps its own interpreter, and a decoder that crashes takes down that
worker (started again for the next request) rather than the service.

:class:`WorkerProcess` has the worker's methods (``predict``, ``describe``); each call
runs in the process and its answer or :class:`~helpers.serving.errors.ServiceError`
comes back pickled. The model loads once, when the process starts (the first call,
which the constructor makes).
"""
from __future__ import annotations

import multiprocessing
import os
import signal
import threading
from concurrent.futures import ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from pathlib import Path
from typing import Any

from helpers.serving.errors import INTERNAL, ServiceError

_worker: Any = None  # the model worker of this process (worker processes only)
_options: dict[str, Any] = {}


def _setup(options: dict[str, Any], threads: int | None) -> None:
    """Worker-process initializer: PyTorch's thread count and what to load. The model
    loads on the first call, so a loading error comes back to the caller whole."""
    global _options
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group; the service stops us
    if threads:
        import torch

        torch.set_num_threads(threads)
    _options = options


def _call(method: str, args: tuple, kwargs: dict[str, Any]) -> Any:
    global _worker
    if _worker is None:
        from helpers.serving.worker import ModelWorker

        _worker = ModelWorker(**_options)
    return getattr(_worker, method)(*args, **kwargs)


class WorkerProcess:
    """``ModelWorker(checkpoint, device, runtime, rl_sampler, with_sound)`` in a spawned process with
    ``threads`` PyTorch threads. Raises what loading raises (e.g. no checkpoint).

    Calls from several threads are safe: the process runs them one after another.
    ``concurrent_calls`` = 2 tells the pool to keep one call waiting in the process while
    another runs, so the process never idles while an answer travels back."""

    concurrent_calls = 2

    def __init__(self, checkpoint: str | Path | None, device: str, runtime: str = "auto",
                 rl_sampler: str | None = "auto", threads: int | None = None,
                 with_sound: str | Path | None = "auto") -> None:
        self._options = {"checkpoint": checkpoint, "device": device, "runtime": runtime, "rl_sampler": rl_sampler,
                         "with_sound": with_sound}
        self._threads = threads
        self._lock = threading.Lock()
        self._executor = self._start()
        try:
            self._description: dict[str, Any] = self._run("describe")
        except BaseException:
            self.close()
            raise

    def _start(self) -> ProcessPoolExecutor:
        return ProcessPoolExecutor(1, mp_context=multiprocessing.get_context("spawn"), initializer=_setup,
                                   initargs=(self._options, self._threads))

    def _run(self, method: str, *args: Any, **kwargs: Any) -> Any:
        return self._executor.submit(_call, method, args, kwargs).result()

    def predict(self, path: Path, name: str, **options: Any) -> dict[str, Any]:
        """:meth:`ModelWorker.predict` in the process. If the process dies on this upload,
        a fresh one is started for the next request and this one gets a 500."""
        executor = self._executor
        try:
            return executor.submit(_call, "predict", (path, name), options).result()
        except BrokenProcessPool:
            with self._lock:  # the other call in flight broke with it: restart once
                if self._executor is executor:
                    executor.shutdown(wait=False, cancel_futures=True)
                    self._executor = self._start()
            raise ServiceError(INTERNAL, f"the worker stopped while reading {name!r}; it was restarted") from None

    @property
    def pid(self) -> int:
        """The worker process's id (starts a fresh one if it had stopped)."""
        return self._executor.submit(os.getpid).result()

    def describe(self) -> dict[str, Any]:
        """:meth:`ModelWorker.describe`, read once when the process started."""
        return dict(self._description)

    def close(self) -> None:
        self._executor.shutdown(wait=True, cancel_futures=True)
