"""The few lines every notebook starts with, kept here so they are tested.

A notebook's cell 2 makes ``helpers`` importable, calls :func:`ensure_runtime_packages`
(on Kaggle: installs what the image lacks) and :func:`setup_notebook`;
its ``parameters`` cell sets plain values; the next cell calls :func:`use_parameters`
so papermill/nbval/Kaggle overrides reach :func:`helpers.settings.get_settings`.
"""
from __future__ import annotations

import os
import shutil
import subprocess
from pathlib import Path

from helpers.heap import return_freed_memory, trim_heap
from helpers.settings import Settings, get_settings, on_kaggle


def setup_notebook(seed: int | None = None) -> Settings:
    """Print where we run (Kaggle or not, device, size, data folder), seed RNGs, and
    let freed tensors go back to the system after every cell (:mod:`helpers.heap`)."""
    return_freed_memory()
    _trim_after_each_cell()
    s = get_settings()
    _seed(s.seed if seed is None else seed)
    print(
        f"helpers {_version()} · {'Kaggle' if s.kaggle else 'local'} · device {s.device} · "
        f"size {s.size} · data {s.data_dir}"
    )
    return s


def _trim_after_each_cell() -> None:
    """Register :func:`helpers.heap.trim_heap` to run after every cell (once per kernel)."""
    try:
        from IPython import get_ipython
    except ImportError:
        return
    shell = get_ipython()
    if shell is None:
        return
    callbacks = shell.events.callbacks["post_run_cell"]
    if not any(getattr(cb, "__name__", "") == "_trim_heap_after_cell" for cb in callbacks):
        shell.events.register("post_run_cell", _trim_heap_after_cell)


def _trim_heap_after_cell(result=None) -> None:
    trim_heap()


def _version() -> str:
    import helpers

    return helpers.__version__


def use_parameters(
    size: str | None = None, seed: int | None = None, device: str | None = None
) -> Settings:
    """Apply a notebook's parameters to the environment so every helper (and every
    process it starts) sees them. ``size``: ``smoke``, ``demo`` or ``full``."""
    if size is not None:
        from helpers.settings import chosen_size

        os.environ["HELPERS_SIZE"] = chosen_size(size)
        os.environ["SMOKE"] = "1" if size == "smoke" else "0"  # SMOKE wins over HELPERS_SIZE: keep them in step
    if seed is not None:
        os.environ["HELPERS_SEED"] = str(seed)
        _seed(seed)
    if device:
        os.environ["HELPERS_DEVICE"] = device
    return get_settings()


def _seed(seed: int) -> None:
    """The package's one seed function (:func:`helpers.training.seed.seed_everything`:
    Python, NumPy and torch), imported on first use so this module stays light."""
    from helpers.training.seed import seed_everything as seed_all

    seed_all(seed)


_CHECKED: list[str] | None = None  # what the first call in this kernel installed


def _unar_note(install: bool) -> str:
    """Make sure a RAR tool exists (apt on Kaggle); '' or a short note for the line."""
    if shutil.which("unar") or shutil.which("unrar"):
        return ""
    if install and shutil.which("apt-get") and os.geteuid() == 0:
        subprocess.run(["apt-get", "install", "-y", "-qq", "unar"], check=False, capture_output=True)
        if shutil.which("unar"):
            return "unar (apt)"
    return "no unar/unrar: only the official compressed HMDB51 RARs need it (apt-get install unar)"


def ensure_runtime_packages(
    install: bool | None = None, pyproject: Path | None = None, force: bool = False
) -> list[str]:
    """Install what this image lacks of the project's requirements, once per kernel.

    The ranges come from ``pyproject.toml`` (see :mod:`helpers.runtime_packages`); only
    missing or out-of-range distributions are pip-installed, quietly, and an installed
    torch/torchvision in range is never touched. On Kaggle it installs by default;
    elsewhere ``make`` installed everything, so it only reports. A failed pip (no
    internet) is reported, not raised: most notebooks run without the missing extras.
    Prints one line and returns what it installed; later calls in the same kernel
    return that at once (``force=True`` checks again)."""
    global _CHECKED
    if _CHECKED is not None and not force:
        print(f"runtime packages: checked earlier in this kernel (installed: {', '.join(_CHECKED) or 'nothing'})")
        return list(_CHECKED)
    from helpers import runtime_packages as rp

    install = on_kaggle() if install is None else install
    checks = rp.check_requirements(rp.project_requirements(pyproject))
    failed = ""
    try:
        installed = rp.install(checks) if install else []
    except RuntimeError as exc:  # e.g. Internet off: say so and let the notebook go on
        installed, failed = [], str(exc).splitlines()[-1]
    note = _unar_note(install)
    if note == "unar (apt)":
        installed.append(note)
        note = ""
    if failed:
        line = (f"runtime packages: could not install {rp.describe(checks)} ({failed}); "
                "turn Internet on, or attach a wheels dataset and set PIP_FIND_LINKS")
    elif installed:
        line = f"runtime packages: installed {', '.join(installed)}"
    elif rp.unmet(checks):
        line = f"runtime packages: missing {rp.describe(checks)}; run `make install` (or pip install them)"
    else:
        line = f"runtime packages: all {len(checks)} requirements met"
    print(line + (f"; {note}" if note else ""))
    _CHECKED = installed
    return list(installed)
