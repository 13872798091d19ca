"""helpers.heap: freed large CPU tensors leave the process's resident memory."""
from __future__ import annotations

import platform
import subprocess
import sys

import pytest

pytestmark = pytest.mark.skipif(platform.system() != "Linux" or platform.libc_ver()[0] != "glibc",
                                reason="glibc's malloc only")

# Frees one 16 MB tensor (glibc then raises its threshold; it stops at 32 MB), allocates
# twelve more, each followed by a small one that outlives it (a step's activations and what
# the step keeps), frees the twelve and prints how much resident memory stayed (MB).
_SCRIPT = """
import sys, torch
from helpers.heap import return_freed_memory, trim_heap
if sys.argv[1] == "1":
    assert return_freed_memory()
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
base = rss_mb()
x = torch.ones(4 * 2**20); del x
xs, kept = [], []
for _ in range(12):
    xs.append(torch.ones(4 * 2**20))
    kept.append(torch.ones(1024))
del xs
if sys.argv[1] == "1":
    assert trim_heap()
print(round(rss_mb() - base))
"""


def _kept_mb(fixed: bool) -> int:
    out = subprocess.run([sys.executable, "-c", _SCRIPT, "1" if fixed else "0"], capture_output=True, text=True,
                         check=True)
    return int(out.stdout.split()[-1])


def test_freed_tensors_are_returned_only_with_the_threshold_fixed():
    kept_default, kept_fixed = _kept_mb(False), _kept_mb(True)
    assert kept_default >= 150  # glibc's default: the twelve 16 MB blocks stay resident
    assert kept_fixed <= 20


def test_notebooks_trim_the_heap_after_every_cell(monkeypatch):
    from IPython.core.interactiveshell import InteractiveShell

    import helpers.notebook_setup as setup

    trims: list[int] = []
    monkeypatch.setattr(setup, "trim_heap", lambda: trims.append(1) or True)
    shell = InteractiveShell.instance()
    try:
        setup.setup_notebook()
        setup.setup_notebook()  # a second call (a re-run cell) registers nothing more
        shell.run_cell("x = 1")
        shell.run_cell("y = 2")
        assert len(trims) == 2
    finally:
        shell.events.callbacks["post_run_cell"].clear()
        InteractiveShell.clear_instance()
