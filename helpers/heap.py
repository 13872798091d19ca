"""Give freed CPU tensors back to the operating system (glibc, Linux).

glibc's ``malloc`` serves large blocks from their own ``mmap`` until the first such block
is freed; then it raises its threshold (up to 32 MiB) and keeps later blocks below it in
the heap, where a freed block stays resident. A training step's activations then stay in
the process's memory after the step, and the next phase's (validation, export, another
model) land beside them: for a full-size model on a CPU, several GB nobody uses.

Two calls, because a low mmap threshold alone is slow: every large block is then a fresh
mapping the kernel zero-fills page by page, on every step. :func:`return_freed_memory`
fixes the threshold high (only very large blocks get their own mapping, unmapped on
free); :func:`trim_heap` (``malloc_trim``) hands the heap's free pages back between
phases: after each training epoch and validation, and after every notebook cell.
Nothing changes on a GPU's memory.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform
from functools import lru_cache

M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's malloc.h
DEFAULT_THRESHOLD = 128 << 20  # blocks above 128 MiB get their own mapping, unmapped when freed


@lru_cache(maxsize=1)
def _glibc() -> ctypes.CDLL | None:
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return None
    try:
        return ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return None


def return_freed_memory(threshold_bytes: int = DEFAULT_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold_bytes`` for this process (no dynamic
    raise). True when set; False (nothing done) on another C library or system."""
    libc = _glibc()
    return libc is not None and bool(libc.mallopt(M_MMAP_THRESHOLD, int(threshold_bytes)))


def trim_heap() -> bool:
    """Hand every free page of the heap back to the system now (``malloc_trim(0)``):
    call it between phases. True when glibc released memory."""
    libc = _glibc()
    return libc is not None and bool(libc.malloc_trim(0))
