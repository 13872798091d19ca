"""Where things live and how big they are: one place for paths, Kaggle detection,
the device, the seed and the size switch.

Nothing here runs at import time: call :func:`get_settings` (cheap, re-reads the
environment each call) so a notebook's ``parameters`` cell or a test's
``monkeypatch.setenv`` takes effect immediately.

Environment variables read:

``HELPERS_SIZE``     ``smoke``, ``demo`` or ``full`` (see :func:`size`): how big every run
                     is. ``smoke``: tiny, minutes, checks the code path (tests, CI);
                     ``demo``: the small models on a larger generated dataset, long enough
                     to learn it on a CPU (``make run`` without a GPU); ``full``: the real
                     models and data (a GPU). Unset: ``SMOKE``/``CI`` decide, else ``full``.
``SMOKE``            ``1``/``true`` means ``HELPERS_SIZE=smoke`` and wins over it (on by
                     default when ``CI`` is set; ``SMOKE=0`` forces it off even in CI).
``CI``               set by CI services; turns the smoke size on unless ``SMOKE`` or
                     ``HELPERS_SIZE`` says otherwise.
``HELPERS_DATA_DIR`` overrides the data folder (default ``<repo>/data``, or
                     ``/kaggle/working/data`` on Kaggle).
``HELPERS_MODELS_DIR`` overrides the models folder.
``HELPERS_DEVICE``   ``cpu``/``cuda``/``cuda:1``… instead of auto-detection.
``HELPERS_SEED``     global seed (default 0).
``HELPERS_SYNTH_CLASSES`` classes of the generated stand-in (2–51; 13 and up use
                     HMDB51's real class names, for a 51-class rehearsal; see
                     :mod:`helpers.synth.overrides`). Default: the preset's.
``HELPERS_SYNTH_CLIPS`` clips per class of the generated stand-in (≥ 3).
``HELPERS_MAX_STEPS`` a step budget (see :func:`step_budget`): caps every optimisation
                     loop and every evaluation pass; sizes and code paths stay as they are.
``HELPERS_MICRO_BATCH`` the most clips one training forward/backward holds (see
                     :func:`micro_batch_size`): same steps, less memory.
``KAGGLE_KERNEL_RUN_TYPE`` set by Kaggle kernels; switches outputs to ``/kaggle/working``.
"""
from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

KAGGLE_INPUT = Path("/kaggle/input")
KAGGLE_WORKING = Path("/kaggle/working")

_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _flag(value: str | None) -> bool | None:
    """Parse an environment flag: True, False, or None when unset/empty."""
    if value is None or value.strip() == "":
        return None
    v = value.strip().lower()
    if v in _TRUE:
        return True
    if v in _FALSE:
        return False
    raise ValueError(f"cannot read {value!r} as a flag; use 1/0, true/false, yes/no or on/off")


def repo_root() -> Path:
    """The repository root: the folder holding ``helpers/`` (works pip-installed in
    editable mode and from a plain clone)."""
    return Path(__file__).resolve().parent.parent


def on_kaggle() -> bool:
    """True inside a Kaggle kernel (interactive or batch)."""
    return bool(os.environ.get("KAGGLE_KERNEL_RUN_TYPE"))


SIZE_ENV = "HELPERS_SIZE"
SIZES: tuple[str, ...] = ("smoke", "demo", "full")


def _requested_size(environ: Mapping[str, str]) -> str | None:
    """``HELPERS_SIZE`` lower-cased, None when unset or empty; a ValueError naming the
    variable for anything but the three sizes."""
    raw = environ.get(SIZE_ENV, "").strip().lower()
    if not raw:
        return None
    if raw not in SIZES:
        raise ValueError(f"{SIZE_ENV}={environ[SIZE_ENV]!r} is not a size; use one of {', '.join(SIZES)}")
    return raw


def size(environ: Mapping[str, str] | None = None) -> str:
    """The active size, ``"smoke"``, ``"demo"`` or ``"full"`` (default: the process
    environment). ``SMOKE=1`` wins (it always meant the smallest run); ``SMOKE=0`` rules
    smoke out; then ``HELPERS_SIZE``; then ``CI`` turns smoke on; else ``full``.
    The size picks sizes (epochs, clips, models), never which code runs."""
    env = os.environ if environ is None else environ
    smoke = _flag(env.get("SMOKE"))
    requested = _requested_size(env)
    if smoke:
        return "smoke"
    if smoke is False:
        if requested == "smoke":
            raise ValueError(f"SMOKE=0 contradicts {SIZE_ENV}=smoke; unset one of them")
        return requested or "full"
    if requested:
        return requested
    ci = env.get("CI", "").strip().lower()
    return "smoke" if ci not in ("", *_FALSE) else "full"


def size_set_by(environ: Mapping[str, str] | None = None) -> str | None:
    """The variable that decides :func:`size` (``SMOKE``, ``HELPERS_SIZE`` or ``CI``), or
    None when none is set and the size is the default, ``full``."""
    env = os.environ if environ is None else environ
    if _flag(env.get("SMOKE")) is not None:
        return "SMOKE"
    if _requested_size(env):
        return SIZE_ENV
    if env.get("CI", "").strip().lower() not in ("", *_FALSE):
        return "CI"
    return None


def chosen_size(requested: str | None = None) -> str:
    """``requested`` if it is a size (else ValueError), or the active :func:`size` when None:
    what the ``for_size`` presets of the configs dispatch on."""
    chosen = requested or size()
    if chosen not in SIZES:
        raise ValueError(f"size must be one of {', '.join(SIZES)}, got {chosen!r}")
    return chosen


def is_smoke() -> bool:
    """True only at the smoke size (see :func:`size`): ``SMOKE=1``, ``HELPERS_SIZE=smoke``
    or ``CI`` with neither set otherwise."""
    return size() == "smoke"


def pick_device(preferred: str | None = None) -> str:
    """``HELPERS_DEVICE`` or ``preferred`` if given, else ``cuda`` when available, then
    ``mps`` (Apple silicon's GPU), else ``cpu``. What AMP and int8 run on per device:
    :mod:`helpers.devices`."""
    choice = preferred or os.environ.get("HELPERS_DEVICE")
    if choice:
        return choice
    import torch  # deferred: settings must import without torch's start-up cost

    if torch.cuda.is_available():
        return "cuda"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        return "mps"
    return "cpu"


def find_kaggle_hmdb51(input_root: Path = KAGGLE_INPUT) -> Path | None:
    """Search an attached Kaggle dataset for HMDB51: either the official archives
    (``hmdb51_org.rar``) or an already extracted tree (a folder holding class folders
    of ``.avi`` clips such as ``brush_hair``). Returns the folder or None."""
    if not input_root.is_dir():
        return None
    for archive in sorted(input_root.rglob("hmdb51_org.rar")):
        return archive.parent
    for marker in sorted(input_root.rglob("brush_hair")):
        if marker.is_dir() and any(marker.glob("*.avi")):
            return marker.parent
    return None


def env_whole(name: str, lo: int, hi: int | None = None, environ: Mapping[str, str] | None = None) -> int | None:
    """``environ[name]`` (default: the process environment) as an int in [lo, hi], None
    when unset or empty; a ValueError naming the variable otherwise."""
    raw = (os.environ if environ is None else environ).get(name, "").strip()
    if not raw:
        return None
    try:
        value = int(raw)
    except ValueError:
        raise ValueError(f"{name}={raw!r} is not a whole number") from None
    if value < lo or (hi is not None and value > hi):
        bound = f"between {lo} and {hi}" if hi is not None else f"at least {lo}"
        raise ValueError(f"{name} must be {bound}, got {value}")
    return value


MAX_STEPS_ENV = "HELPERS_MAX_STEPS"


def step_budget() -> int | None:
    """``HELPERS_MAX_STEPS`` as a positive int, or None (no budget).

    One knob for a rehearsal of the full-size path on a CPU: the trainer stops after
    this many optimiser steps in all, fine-tunes, students and the RL agent likewise,
    and every evaluation or calibration pass reads at most this many batches. It
    changes how long things run, never which code runs (full models, full input shape).
    """
    return env_whole(MAX_STEPS_ENV, 1)


MICRO_BATCH_ENV = "HELPERS_MICRO_BATCH"


def micro_batch_size() -> int | None:
    """``HELPERS_MICRO_BATCH`` as a positive int, or None: the most clips one training
    forward/backward holds. A larger batch is split and its gradients summed — the same
    optimiser step (but BatchNorm statistics per chunk) in a fraction of the activation
    memory, for full presets on a CPU or a small GPU."""
    return env_whole(MICRO_BATCH_ENV, 1)


def within_budget(limit: int | None) -> int | None:
    """``limit`` lowered to the step budget (None = no limit on either side)."""
    budget = step_budget()
    if budget is None:
        return limit
    return budget if limit is None else min(limit, budget)


@dataclass(frozen=True)
class Settings:
    """Resolved paths and switches for one run. Build with :func:`get_settings`."""

    root: Path
    data_dir: Path
    models_dir: Path
    runs_dir: Path
    kaggle: bool
    smoke: bool
    seed: int
    device: str = field(default="cpu")
    size: str = ""  # "smoke" | "demo" | "full" (see :func:`size`); "": from ``smoke`` (smoke or full)

    def __post_init__(self) -> None:
        if not self.size:
            object.__setattr__(self, "size", "smoke" if self.smoke else "full")

    @property
    def synth_dir(self) -> Path:
        """The generated stand-in dataset (both layouts live below it). Real HMDB51
        lives in ``data/hmdb51``; see :func:`helpers.fetch_hmdb51.paths_for`."""
        return self.data_dir / "synth"

    @property
    def cache_dir(self) -> Path:
        """Decoded-clip and index caches."""
        return self.data_dir / "cache"


def get_settings(device: str | None = None) -> Settings:
    """Read the environment now and return the paths and switches to use."""
    kaggle = on_kaggle()
    root = repo_root()
    base = KAGGLE_WORKING if kaggle else root
    data_dir = Path(os.environ.get("HELPERS_DATA_DIR") or base / "data")
    models_dir = Path(os.environ.get("HELPERS_MODELS_DIR") or base / "models")
    runs_dir = Path(os.environ.get("HELPERS_RUNS_DIR") or base / "runs")
    seed = int(os.environ.get("HELPERS_SEED", "0"))
    active = size()
    return Settings(
        root=root,
        data_dir=data_dir,
        models_dir=models_dir,
        runs_dir=runs_dir,
        kaggle=kaggle,
        smoke=active == "smoke",
        seed=seed,
        device=pick_device(device),
        size=active,
    )
