"""Give large freed CPU tensors back to the operating system (glibc, Linux).

glibc's ``malloc`` serves large blocks from their own ``mmap`` until the first such block
is freed; then it raises its threshold and keeps later large blocks in the heap, where a
freed block stays resident. A training step's activations then stay in the process's
memory after the step, and the next step's land beside them: for a full-size model on a
CPU that is several GB of resident memory nothing uses. Fixing the threshold keeps every
block above it in its own mapping, unmapped when freed. Nothing changes on a GPU's memory.
"""
from __future__ import annotations

import ctypes
import ctypes.util
import platform

M_MMAP_THRESHOLD = -3  # mallopt parameter number in glibc's malloc.h
DEFAULT_THRESHOLD = 1 << 20  # 1 MiB: tensors above this are unmapped on free


def return_freed_memory(threshold_bytes: int = DEFAULT_THRESHOLD) -> bool:
    """Fix glibc's mmap threshold at ``threshold_bytes`` for this process. True when set;
    False (nothing done) on another C library or system."""
    if platform.system() != "Linux" or platform.libc_ver()[0] != "glibc":
        return False
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or "libc.so.6")
    except OSError:
        return False
    return bool(libc.mallopt(M_MMAP_THRESHOLD, int(threshold_bytes)))
