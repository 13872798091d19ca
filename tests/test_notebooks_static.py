"""Conventions every committed notebook keeps (DESIGN.md §2): no outputs, a title,
a setup cell, a `parameters` cell, no function or class definitions, known names."""
from __future__ import annotations

import ast
import json
from pathlib import Path

import pytest

from helpers.run_notebooks import NOTEBOOKS

NOTEBOOK_DIR = Path(__file__).resolve().parent.parent / "notebooks"
PATHS = sorted(NOTEBOOK_DIR.glob("*.ipynb"))


def _cells(path: Path) -> list[dict]:
    return json.loads(path.read_text())["cells"]


def _source(cell: dict) -> str:
    src = cell["source"]
    return "".join(src) if isinstance(src, list) else src


def test_there_are_notebooks():
    assert PATHS, f"no notebooks in {NOTEBOOK_DIR}"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_name_is_in_the_series(path):
    assert path.stem in NOTEBOOKS


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_committed_without_outputs(path):
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] == "code":
            assert cell.get("outputs") == [], f"{path.name} cell {i} has outputs: clear them"
            assert cell.get("execution_count") is None, f"{path.name} cell {i} has an execution count"


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_title_setup_and_parameters_cells(path):
    cells = _cells(path)
    assert cells[0]["cell_type"] == "markdown" and _source(cells[0]).lstrip().startswith("# ")
    assert cells[1]["cell_type"] == "code" and "helpers" in _source(cells[1])
    assert cells[2]["cell_type"] == "code"
    assert "parameters" in cells[2].get("metadata", {}).get("tags", []), (
        f"{path.name}: the third cell must be tagged `parameters`"
    )
    tagged = [c for c in cells if "parameters" in c.get("metadata", {}).get("tags", [])]
    assert len(tagged) == 1


@pytest.mark.parametrize("path", PATHS, ids=lambda p: p.name)
def test_no_def_or_class_in_code_cells(path):
    for i, cell in enumerate(_cells(path)):
        if cell["cell_type"] != "code":
            continue
        lines = [l for l in _source(cell).splitlines() if not l.lstrip().startswith(("%", "!"))]
        tree = ast.parse("\n".join(lines))
        defs = [n for n in ast.walk(tree) if isinstance(n, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef))]
        assert not defs, f"{path.name} cell {i} defines {[d.name for d in defs]}: move it to helpers"
