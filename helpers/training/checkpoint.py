"""One checkpoint schema for every model, written so a kill never leaves a broken file.

Schema (a plain dict of tensors, numbers, strings, lists and dicts, so it loads with
``torch.load(weights_only=True)`` — no pickled code runs when a checkpoint is opened)::

    format       "helpers.training/1"
    model        state_dict                  optimizer / scheduler / scaler  state_dicts or None
    epoch        last finished epoch (1-based)   step  optimizer steps so far
    best_metric  best validation top-1 so far    best_epoch
    metrics      this epoch's history row        history  all rows so far
    rng          see helpers.training.seed.capture_rng_state
    config       TrainConfig.to_dict()           model_name, model_config, class_names
    versions     {"torch": …, "helpers": …, …}

Writes go to a temporary file in the same folder, renamed with ``os.replace`` (helpers.atomic)
(atomic on POSIX and Windows): the previous file stays intact until the new one is
complete. A damaged file raises :class:`CheckpointError` naming the path and the fix.
"""
from __future__ import annotations

import pickle
import platform
import zipfile
from pathlib import Path
from typing import Any

import torch

from helpers.atomic import atomic_open

FORMAT = "helpers.training/1"
REQUIRED_KEYS = ("format", "model", "epoch", "config")


class CheckpointError(RuntimeError):
    """A checkpoint that cannot be used (path and reason)."""

    def __init__(self, path: str | Path, reason: str) -> None:
        self.path = Path(path)
        self.reason = reason
        super().__init__(f"{path}: {reason}")


def package_versions() -> dict[str, str]:
    """Versions that shape a run's numbers, saved with every checkpoint."""
    import numpy

    import helpers

    out = {"python": platform.python_version(), "torch": str(torch.__version__),
           "numpy": str(numpy.__version__), "helpers": str(getattr(helpers, "__version__", "unknown"))}
    try:
        import torchvision

        out["torchvision"] = str(torchvision.__version__)
    except ImportError:  # pragma: no cover - torchvision is a dependency
        pass
    return out


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> Path:
    """Write ``state`` to ``path`` atomically (:func:`helpers.atomic.atomic_open`, fsynced)."""
    path = Path(path)
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise ValueError(f"checkpoint state lacks {missing} (schema: {REQUIRED_KEYS})")
    with atomic_open(path, "wb", fsync=True) as fh:
        torch.save(state, fh)
    return path


def load_checkpoint(path: str | Path, map_location: str | torch.device = "cpu", *, mmap: bool = False) -> dict[str, Any]:
    """Read a checkpoint with ``weights_only=True``; :class:`CheckpointError` when the
    file is missing, truncated, corrupted or not of this schema. ``mmap``: tensors stay
    in the file until touched (reading a full-size checkpoint's metadata costs no memory)."""
    path = Path(path)
    if not path.is_file():
        raise CheckpointError(path, "no such checkpoint file")
    hint = "the file is damaged (truncated or corrupted); delete it or retrain with force=True / --force"
    try:
        state = torch.load(path, map_location=map_location, weights_only=True, mmap=mmap)
    except (RuntimeError, EOFError, pickle.UnpicklingError, zipfile.BadZipFile, ValueError, OSError) as exc:
        text = str(exc)
        if "Weights only load failed" in text:
            hint = ("it holds Python objects that weights_only=True refuses to unpickle (not a checkpoint of "
                    "this schema, or written by other code); retrain with force=True / --force")
            text = text[text.find("WeightsUnpickler error:"):] if "WeightsUnpickler error:" in text else text
        first = text.strip().splitlines()[0] if text.strip() else type(exc).__name__
        raise CheckpointError(path, f"{hint} ({type(exc).__name__}: {first[:200]})") from exc
    if not isinstance(state, dict) or state.get("format") != FORMAT:
        found = state.get("format") if isinstance(state, dict) else type(state).__name__
        raise CheckpointError(path, f"not a {FORMAT} checkpoint (format {found!r})")
    missing = [k for k in REQUIRED_KEYS if k not in state]
    if missing:
        raise CheckpointError(path, f"checkpoint lacks {missing}")
    return state
