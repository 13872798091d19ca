"""One writer per run and per checkpoint: an exclusive lock beside what a run writes.

Two processes training into one models folder overwrote each other's checkpoints and
shared a run folder. :func:`exclusive` holds ``<path>.lock`` (``filelock``: an OS lock
the kernel drops when the process dies, so a crash leaves no stale lock) and writes who
holds it to ``<path>.lock.owner``, so a second process is refused at once with a message
naming the first, instead of waiting or writing alongside it.
"""
from __future__ import annotations

import json
import os
import socket
import sys
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from pathlib import Path
from typing import Any

from helpers.atomic import atomic_write_text


class RunLocked(RuntimeError):
    """Another process holds the lock of ``path`` (``owner``: what it wrote, may be empty)."""

    def __init__(self, path: Path, owner: dict[str, Any]) -> None:
        self.path = Path(path)
        self.owner = owner
        who = (f"process {owner.get('pid')} on {owner.get('host')} since {owner.get('started')}"
               f" ({owner.get('command')})") if owner else "another process"
        super().__init__(f"{path} is being written by {who}; wait for it to finish, or train into "
                         "another folder (--models-dir / HELPERS_MODELS_DIR and HELPERS_RUNS_DIR)")


def owner_file(path: Path) -> Path:
    return Path(f"{path}.lock.owner")


def read_owner(path: Path) -> dict[str, Any]:
    """Who holds the lock of ``path``, as it wrote it (empty when unknown)."""
    try:
        return dict(json.loads(owner_file(path).read_text()))
    except (OSError, ValueError, TypeError):
        return {}


@contextmanager
def exclusive(path: str | Path) -> Iterator[None]:
    """Hold the lock of ``path`` for the block; :class:`RunLocked` when another holds it."""
    from filelock import FileLock, Timeout

    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    lock = FileLock(f"{path}.lock")
    try:
        lock.acquire(timeout=0)
    except Timeout:
        raise RunLocked(path, read_owner(path)) from None
    try:
        me = {"pid": os.getpid(), "host": socket.gethostname(), "started": time.strftime("%Y-%m-%d %H:%M:%S"),
              "command": " ".join([Path(sys.argv[0]).name, *sys.argv[1:]])[:200]}
        atomic_write_text(owner_file(path), json.dumps(me))
        yield
    finally:
        owner_file(path).unlink(missing_ok=True)
        lock.release()


@contextmanager
def exclusive_all(*paths: str | Path) -> Iterator[None]:
    """Hold the locks of every path (in the order given), or none of them."""
    with ExitStack() as stack:
        for path in paths:
            stack.enter_context(exclusive(path))
        yield
