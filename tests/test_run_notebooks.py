"""`make run`'s runner: executes notebooks in order, skips unbuilt ones, stops at a failure."""
from __future__ import annotations

from pathlib import Path

import nbformat
import pytest

from helpers import run_notebooks as runner


def _write_notebook(path: Path, code: str) -> None:
    nb = nbformat.v4.new_notebook()
    nb.cells = [
        nbformat.v4.new_markdown_cell("# test"),
        nbformat.v4.new_code_cell("import helpers"),
        nbformat.v4.new_code_cell("VALUE = 1", metadata={"tags": ["parameters"]}),
        nbformat.v4.new_code_cell(code),
    ]
    nb.metadata["kernelspec"] = {"name": "python3", "display_name": "Python 3", "language": "python"}
    nbformat.write(nb, path)


@pytest.mark.timeout(180)
def test_runs_in_order_skips_missing_and_stops_on_failure(tmp_path, monkeypatch):
    nbdir = tmp_path / "notebooks"
    nbdir.mkdir()
    names = runner.NOTEBOOKS
    _write_notebook(nbdir / f"{names[0]}.ipynb", "print(VALUE + 41)")
    _write_notebook(nbdir / f"{names[2]}.ipynb", "raise RuntimeError('boom')")
    _write_notebook(nbdir / f"{names[3]}.ipynb", "print('never runs')")
    monkeypatch.setattr(runner, "notebook_dir", lambda: nbdir)

    out = tmp_path / "runs"
    results = runner.run_notebooks(out_dir=out, progress=False)

    assert [(r.name, r.status) for r in results] == [
        (names[0], "ok"), (names[1], "skipped"), (names[2], "failed"),
    ]
    executed = nbformat.read(out / f"{names[0]}.ipynb", as_version=4)
    printed = "".join(o.get("text", "") for o in executed.cells[3].outputs)
    assert printed.strip() == "42"
    assert "boom" in results[2].detail
    assert not (out / f"{names[3]}.ipynb").exists()


@pytest.mark.parametrize(("gpu", "expected"), [(True, "full"), (False, "demo")])
def test_make_run_picks_full_with_a_gpu_and_demo_without(monkeypatch, gpu, expected):
    for name in ("SMOKE", "HELPERS_SIZE", "CI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setattr(runner, "gpu_available", lambda: gpu)
    size, why = runner.choose_size()
    assert size == expected
    assert ("GPU is present" if gpu else "no GPU") in why


@pytest.mark.parametrize(
    ("environ", "expected", "setter"),
    [
        ({"SMOKE": "1"}, "smoke", "SMOKE"),
        ({"CI": "true"}, "smoke", "CI"),
        ({"HELPERS_SIZE": "full"}, "full", "HELPERS_SIZE"),
        ({"HELPERS_SIZE": "demo"}, "demo", "HELPERS_SIZE"),
    ],
)
def test_make_run_keeps_a_size_that_is_set(monkeypatch, environ, expected, setter):
    monkeypatch.setattr(runner, "gpu_available", lambda: True)
    assert runner.choose_size(environ) == (expected, f"set by {setter}")


def test_banner_says_which_size_runs_and_why(monkeypatch, capsys, tmp_path):
    monkeypatch.setenv("HELPERS_SIZE", "unset")  # recorded, so the value main() sets is undone
    for name in ("SMOKE", "HELPERS_SIZE", "CI"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HELPERS_DATA_DIR", str(tmp_path / "data"))
    monkeypatch.setattr(runner, "gpu_available", lambda: False)
    monkeypatch.setattr(runner, "run_notebooks", lambda names, out: [])
    assert runner.main([]) == 0
    printed = capsys.readouterr().out
    assert "size: demo (no GPU" in printed
    assert runner.os.environ["HELPERS_SIZE"] == "demo"  # what the kernels inherit
    assert "GENERATED STAND-IN" in printed
