"""One seed for Python, NumPy, torch and the DataLoader, and the RNG states a
checkpoint needs so that a resumed run continues exactly where it stopped.

Why save states rather than reseed on resume: the DataLoader's shuffle order, the
dataset's frame sampling and crops, dropout and the MoE gate noise all draw from these
generators; restoring them makes epoch 3 of a resumed run the same as epoch 3 of an
uninterrupted one (checked by the tests in deterministic mode on CPU).
"""
from __future__ import annotations

import os
import random
import sys
from typing import Any

import numpy as np
import torch


def seed_everything(seed: int, deterministic: bool = False) -> None:
    """Seed Python, NumPy and torch (all devices). ``deterministic`` also asks torch for
    deterministic kernels (warn-only where none exists) and turns cuDNN autotuning off:
    slower, but two runs give the same numbers."""
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)
    set_deterministic(deterministic)


def set_deterministic(enabled: bool) -> None:
    """Deterministic kernels on or off (cuBLAS needs its workspace variable set first)."""
    if enabled:
        os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    if torch.are_deterministic_algorithms_enabled() != enabled or torch.is_deterministic_algorithms_warn_only_enabled() != enabled:
        if "torch._inductor" in sys.modules or not hasattr(torch._C, "_set_deterministic_algorithms"):
            torch.use_deterministic_algorithms(enabled, warn_only=True)
        else:
            # What torch.use_deterministic_algorithms does, minus importing torch._inductor
            # (seconds) only to set a torch.compile flag; nothing here compiles.
            torch._C._set_deterministic_algorithms(enabled, warn_only=True)
    torch.backends.cudnn.deterministic = enabled
    torch.backends.cudnn.benchmark = not enabled


def seed_worker(worker_id: int) -> None:
    """``worker_init_fn``: each DataLoader worker seeds Python and NumPy from the torch
    seed the loader gave it (torch itself is already seeded per worker and per epoch),
    and limits itself to one thread (see :func:`helpers.datasets.loader.worker_init`)."""
    from helpers.datasets.loader import worker_init

    worker_init(worker_id)
    seed = torch.initial_seed() % 2**32
    random.seed(seed)
    np.random.seed(seed)


def capture_rng_state(generator: torch.Generator | None = None) -> dict[str, Any]:
    """Every RNG state as tensors, lists and ints (loadable with ``weights_only=True``)."""
    np_state = np.random.get_state()
    state: dict[str, Any] = {
        "python": _to_lists(random.getstate()),
        "numpy": {
            "key": torch.from_numpy(np.asarray(np_state[1], dtype=np.int64)),
            "pos": int(np_state[2]),
            "has_gauss": int(np_state[3]),
            "cached_gaussian": float(np_state[4]),
        },
        "torch": torch.get_rng_state(),
    }
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    if generator is not None:
        state["loader"] = generator.get_state()
    return state


def restore_rng_state(state: dict[str, Any], generator: torch.Generator | None = None) -> None:
    """Put back what :func:`capture_rng_state` saved (CUDA states only where CUDA is)."""
    random.setstate(_to_tuples(state["python"]))
    n = state["numpy"]
    np.random.set_state(("MT19937", n["key"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["cached_gaussian"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available() and len(state["cuda"]) == torch.cuda.device_count():
        torch.cuda.set_rng_state_all(state["cuda"])
    if generator is not None and "loader" in state:
        generator.set_state(state["loader"])


def _to_lists(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_to_lists(v) for v in value]
    return value


def _to_tuples(value: Any) -> Any:
    if isinstance(value, list):
        return tuple(_to_tuples(v) for v in value)
    return value
