"""The full-size path, rehearsed: notebooks 01 → 08 top to bottom as a Kaggle user runs
them (SMOKE off: full model sizes, full input shape, full presets), on a CPU.

What makes it fit in CI is only how long things run and how much memory one step holds,
never which code runs:
- a step budget (``HELPERS_MAX_STEPS``) caps every optimisation loop and evaluation pass;
- micro-batches (``HELPERS_MICRO_BATCH``) split each training batch, gradients summed;
- the generated dataset in HMDB51 packaging with HMDB51's 51 class names and a few clips
  each, so every 51-class shape (heads, confusion matrix, reports, top-5) is exercised;
- the torch-hub and Hugging Face caches filled with randomly initialised weights of the
  real architectures under their real names (:mod:`helpers.models.weight_cache`), in a
  temporary folder, so every model takes the "weights found" branch as it does online.

Each notebook runs in its own process (``python -m helpers run-notebooks NAME``); its
wall time and peak resident memory (the process and its kernel) are printed.
Run alone with ``make rehearsal``.
"""
from __future__ import annotations

import os
import subprocess
import sys
import time
from pathlib import Path

import pytest

from helpers.run_notebooks import NOTEBOOKS
from helpers.settings import repo_root

pytestmark = [pytest.mark.rehearsal, pytest.mark.timeout(1500)]

PEAK_GOAL_GB = 8.0  # what a notebook should stay under; a line says so when one does not
PEAK_LIMIT_GB = 16.0  # what fails the test: a 24 GB CI machine must never swap or kill a kernel
REHEARSAL_ENV = {
    "SMOKE": "0",
    "HELPERS_MAX_STEPS": "1",
    "HELPERS_MICRO_BATCH": "2",  # the full presets' batches in chunks of two clips (+ their sync pairs): < 8 GB on a CPU
    "HELPERS_SYNTH_CLASSES": "51",
    "HELPERS_SYNTH_CLIPS": "4",
    "HELPERS_DEVICE": "cpu",
    "MPLBACKEND": "Agg",
}


@pytest.fixture(scope="module")
def rehearsal_env(tmp_path_factory) -> dict[str, str]:
    from helpers.models.weight_cache import fill_weight_caches

    base = tmp_path_factory.mktemp("rehearsal")
    env = {k: v for k, v in os.environ.items() if k not in ("CI", "PYTEST_CURRENT_TEST")}
    env.update(REHEARSAL_ENV)
    env.update(fill_weight_caches(base / "weights"))
    env.update(HELPERS_DATA_DIR=str(base / "data"), HELPERS_MODELS_DIR=str(base / "models"),
               HELPERS_RUNS_DIR=str(base / "runs"))
    return env


# Runs ``argv[2:]``, then writes "<exit code> <peak RSS KiB>" to ``argv[1]``. Why a small
# middle process: Linux starts a process's peak RSS at its parent's high-water mark
# (fork + exec), and this test process holds torch; the middle one holds almost nothing.
_WAIT4 = ("import os, subprocess, sys; p = subprocess.Popen(sys.argv[2:]); _, s, u = os.wait4(p.pid, 0); "
          "open(sys.argv[1], 'w').write(f'{os.waitstatus_to_exitcode(s)} {u.ru_maxrss}')")


def run_measured(cmd: list[str], env: dict[str, str], log: Path) -> tuple[int, float, float]:
    """``(exit code, seconds, peak resident GiB)`` of ``cmd`` and every process it waited
    for (a notebook kernel included): ``wait4`` reports the largest RSS among them."""
    start = time.perf_counter()
    result = log.with_suffix(".rusage")
    with open(log, "wb") as out:
        subprocess.run([sys.executable, "-c", _WAIT4, str(result), *cmd], env=env, cwd=repo_root(), stdout=out,
                       stderr=subprocess.STDOUT, check=False)
    rc, kib = (int(v) for v in result.read_text().split())
    return rc, time.perf_counter() - start, kib / 2**20


@pytest.mark.parametrize("name", NOTEBOOKS)
def test_notebook_runs_at_full_size(name, rehearsal_env, capsys):
    runs = Path(rehearsal_env["HELPERS_RUNS_DIR"])
    runs.mkdir(parents=True, exist_ok=True)
    log = runs / f"{name}.log"
    rc, seconds, peak_gb = run_measured([sys.executable, "-m", "helpers", "run-notebooks", name], rehearsal_env, log)
    over = f" (over the {PEAK_GOAL_GB:.0f} GB goal)" if peak_gb > PEAK_GOAL_GB else ""
    with capsys.disabled():
        print(f"\n[rehearsal] {name}: rc {rc}, {seconds:.0f} s, peak RSS {peak_gb:.2f} GB{over}", flush=True)
    tail = log.read_text(errors="replace")[-4000:]
    assert rc == 0, f"{name} failed at full size:\n{tail}"
    assert peak_gb <= PEAK_LIMIT_GB, f"{name} peaked at {peak_gb:.2f} GB (limit {PEAK_LIMIT_GB} GB)"
