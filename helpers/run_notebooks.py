"""Execute the notebook series top to bottom (what ``make run`` does).

Each notebook runs in a fresh kernel through papermill, in order, with the
environment passed through (so ``SMOKE``, ``HELPERS_*`` reach the ``parameters``
cells). The size (:func:`choose_size`): what ``SMOKE``/``HELPERS_SIZE``/``CI`` say,
else ``full`` with a GPU and ``demo`` without. Executed copies land in
``runs/notebooks/`` (git-ignored); the committed notebooks stay output-free.
Notebooks that do not exist yet are skipped with a line saying so; the first failing
notebook stops the run (later ones depend on it).
"""
from __future__ import annotations

import argparse
import os
import sys
import time
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path

from helpers.settings import SIZE_ENV, get_settings, pick_device, size, size_set_by

NOTEBOOKS: tuple[str, ...] = (
    "01_download_extract",
    "02_datasets",
    "03_architectures",
    "04_training",
    "05_rl_frame_sampling",
    "06_compression",
    "07_evaluation",
    "08_upload_widget",
)


# Said before a full-size run without a GPU, so nobody waits hours unawares.
CPU_FULL_SIZE_NOTE = (
    "note: no GPU — at the full size notebooks 04 (training) and 06 (distillation, fine-tuning) "
    f"train full-size models on the CPU, which takes hours. Without {SIZE_ENV}/SMOKE, make run "
    "picks the demo size here; SMOKE=1 make run is the minutes-long pass"
)


def gpu_available() -> bool:
    """True when the notebooks would train on a CUDA GPU (``HELPERS_DEVICE`` respected)."""
    return pick_device().startswith("cuda")


def choose_size(environ: Mapping[str, str] | None = None) -> tuple[str, str]:
    """The size ``make run`` runs at and why: what ``SMOKE``/``HELPERS_SIZE``/``CI`` say
    when one is set; else ``full`` with a GPU (the real training) and ``demo`` without
    (the series in well under an hour on a CPU, long enough to learn the generated data)."""
    env = os.environ if environ is None else environ
    setter = size_set_by(env)
    if setter is not None:
        return size(env), f"set by {setter}"
    if gpu_available():
        return "full", "a GPU is present"
    return "demo", f"no GPU; {SIZE_ENV}=full forces the full size, SMOKE=1 the smoke one"


@dataclass(frozen=True)
class NotebookRun:
    name: str
    status: str  # "ok" | "skipped" | "failed"
    seconds: float
    output: Path | None
    detail: str = ""


def notebook_dir() -> Path:
    return get_settings().root / "notebooks"


def run_notebooks(
    names: Sequence[str] | None = None,
    out_dir: Path | None = None,
    kernel_name: str = "python3",
    progress: bool = True,
) -> list[NotebookRun]:
    """Run ``names`` (default: all, in order); returns one record per notebook."""
    import papermill

    settings = get_settings()
    out_dir = out_dir or settings.runs_dir / "notebooks"
    out_dir.mkdir(parents=True, exist_ok=True)
    results: list[NotebookRun] = []
    for name in names or NOTEBOOKS:
        src = notebook_dir() / f"{name}.ipynb"
        if not src.exists():
            print(f"[skip] {name}: not built yet (its issue has not landed)")
            results.append(NotebookRun(name, "skipped", 0.0, None, "not built yet"))
            continue
        dst = out_dir / src.name
        print(f"[run ] {name} -> {dst}")
        start = time.perf_counter()
        try:
            papermill.execute_notebook(
                str(src), str(dst), kernel_name=kernel_name, cwd=str(src.parent),
                progress_bar=progress, log_output=False,
            )
        except Exception as exc:  # papermill raises PapermillExecutionError with the cell
            seconds = time.perf_counter() - start
            print(f"[FAIL] {name} after {seconds:.0f} s: {exc}", file=sys.stderr)
            results.append(NotebookRun(name, "failed", seconds, dst, str(exc)))
            break
        seconds = time.perf_counter() - start
        print(f"[ ok ] {name} in {seconds:.0f} s")
        results.append(NotebookRun(name, "ok", seconds, dst))
    return results


def main(argv: Sequence[str] | None = None) -> int:
    """``python -m helpers run-notebooks [NAME ...] [--out DIR]``."""
    parser = argparse.ArgumentParser(
        prog="python -m helpers run-notebooks",
        description="Execute the notebooks in order; executed copies go to runs/notebooks/.",
    )
    parser.add_argument("names", nargs="*", help=f"subset of {', '.join(NOTEBOOKS)}")
    parser.add_argument("--out", type=Path, default=None)
    args = parser.parse_args(argv)
    unknown = [n for n in args.names if n not in NOTEBOOKS]
    if unknown:
        print(f"run-notebooks: unknown notebook(s) {unknown}; choose from {list(NOTEBOOKS)}", file=sys.stderr)
        return 2
    from helpers.fetch_hmdb51 import choose_source

    chosen, why = choose_size()
    if size_set_by() is None:
        os.environ[SIZE_ENV] = chosen  # the kernels inherit it
    settings = get_settings()
    print(choose_source("auto", settings).banner)
    print(f"size: {settings.size} ({why})")
    print(f"device={settings.device} data={settings.data_dir}")
    if settings.device == "cpu" and settings.size == "full":
        print(CPU_FULL_SIZE_NOTE)
    results = run_notebooks(args.names or None, args.out)
    ran = sum(r.status == "ok" for r in results)
    skipped = sum(r.status == "skipped" for r in results)
    failed = [r.name for r in results if r.status == "failed"]
    print(f"notebooks: {ran} ran, {skipped} skipped (not built yet), {len(failed)} failed {failed or ''}")
    return 1 if failed else 0
