"""The few lines every notebook starts with, kept here so they are tested.

A notebook's cell 2 makes ``helpers`` importable and calls :func:`setup_notebook`;
its ``parameters`` cell sets plain values; the next cell calls :func:`use_parameters`
so papermill/nbval/Kaggle overrides reach :func:`helpers.settings.get_settings`.
"""
from __future__ import annotations

import importlib.util
import os
import shutil
import subprocess
import sys

from helpers.settings import Settings, get_settings, on_kaggle

# import name -> pip requirement, for what a Kaggle image may lack
RUNTIME_PACKAGES: dict[str, str] = {"rarfile": "rarfile>=4.2", "av": "av>=14"}


def setup_notebook(seed: int | None = None) -> Settings:
    """Print where we run (Kaggle or not, device, smoke, data folder) and seed RNGs."""
    s = get_settings()
    seed_everything(s.seed if seed is None else seed)
    print(
        f"helpers {_version()} · {'Kaggle' if s.kaggle else 'local'} · device {s.device} · "
        f"smoke {'on' if s.smoke else 'off'} · data {s.data_dir}"
    )
    return s


def _version() -> str:
    import helpers

    return helpers.__version__


def use_parameters(
    smoke: bool | None = None, seed: int | None = None, device: str | None = None
) -> Settings:
    """Apply a notebook's parameters to the environment so every helper sees them."""
    if smoke is not None:
        os.environ["SMOKE"] = "1" if smoke else "0"
    if seed is not None:
        os.environ["HELPERS_SEED"] = str(seed)
        seed_everything(seed)
    if device:
        os.environ["HELPERS_DEVICE"] = device
    return get_settings()


def seed_everything(seed: int) -> None:
    """The package's one seed function (:func:`helpers.training.seed.seed_everything`:
    Python, NumPy and torch), imported on first use so this module stays light."""
    from helpers.training.seed import seed_everything as seed_all

    seed_all(seed)


def missing_packages(packages: dict[str, str] | None = None) -> list[str]:
    """Requirements whose import name cannot be found."""
    packages = RUNTIME_PACKAGES if packages is None else packages
    return [req for name, req in packages.items() if importlib.util.find_spec(name) is None]


def ensure_runtime_packages(install: bool | None = None) -> list[str]:
    """Install only what the image lacks (on Kaggle: rarfile, PyAV; `unar` via apt for
    the compressed official RARs). Elsewhere ``make`` installed everything already, so
    by default this only reports. Returns what it installed."""
    install = on_kaggle() if install is None else install
    missing = missing_packages()
    installed: list[str] = []
    if missing and install:
        subprocess.run([sys.executable, "-m", "pip", "install", "-q", *missing], check=True)
        installed += missing
    elif missing:
        print(f"missing Python packages: {missing}; run `make install` (or pip install them)")
    if shutil.which("unar") is None and shutil.which("unrar") is None:
        if install and shutil.which("apt-get") and os.geteuid() == 0:
            subprocess.run(["apt-get", "install", "-y", "-qq", "unar"], check=False)
            if shutil.which("unar"):
                installed.append("unar (apt)")
        if shutil.which("unar") is None:
            print(
                "note: no `unar`/`unrar` found: the official (compressed) HMDB51 RARs need one "
                "(Debian/Ubuntu: apt-get install unar); the generated stand-in does not"
            )
    print(f"installed: {installed}" if installed else "all runtime packages present")
    return installed
