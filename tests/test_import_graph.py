"""Every module of ``helpers`` imports on its own (as the first ``helpers`` module of a
fresh interpreter), and the imports among the modules form no cycle: at module level
anywhere in the package, and in :mod:`helpers.rl` not even through imports inside
functions (which would only hide a cycle until the function runs)."""
from __future__ import annotations

import ast
import subprocess
import sys
from pathlib import Path

PACKAGE = Path(__file__).resolve().parents[1] / "helpers"


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


MODULES = sorted(_module_name(p) for p in PACKAGE.rglob("*.py"))


def _imports(path: Path, *, top_level_only: bool) -> set[str]:
    """The ``helpers`` modules ``path`` imports (``from helpers.x import y`` counts as
    ``helpers.x.y`` when that is a module, else ``helpers.x``)."""
    me = _module_name(path)
    package = me if path.name == "__init__.py" else me.rpartition(".")[0]
    tree = ast.parse(path.read_text())
    nodes = tree.body if top_level_only else list(ast.walk(tree))
    found: set[str] = set()
    for node in nodes:
        if isinstance(node, ast.If) and top_level_only:  # `if TYPE_CHECKING:` blocks do not run
            continue
        if isinstance(node, ast.Import):
            found |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join(anchor + ([base] if base else []))
            for a in node.names:
                found.add(f"{base}.{a.name}" if f"{base}.{a.name}" in MODULES else base)
    return {m for m in found if m in MODULES and m != me}


def _cycle(graph: dict[str, set[str]]) -> list[str] | None:
    state: dict[str, int] = {}
    stack: list[str] = []

    def visit(m: str) -> list[str] | None:
        state[m] = 1
        stack.append(m)
        for n in sorted(graph.get(m, ())):
            if state.get(n) == 1:
                return stack[stack.index(n):] + [n]
            if n not in state and (found := visit(n)):
                return found
        stack.pop()
        state[m] = 2
        return None

    for m in sorted(graph):
        if m not in state and (found := visit(m)):
            return found
    return None


def _graph(paths, *, top_level_only: bool) -> dict[str, set[str]]:
    # a package's __init__ is imported before its submodules anyway: edges to it say nothing
    return {_module_name(p): {m for m in _imports(p, top_level_only=top_level_only)
                              if not (PACKAGE / Path(*m.split(".")[1:]) / "__init__.py").exists()}
            for p in paths}


def test_module_level_imports_form_no_cycle():
    assert _cycle(_graph(PACKAGE.rglob("*.py"), top_level_only=True)) is None


def test_rl_modules_form_a_dag_even_through_function_level_imports():
    graph = _graph((PACKAGE / "rl").glob("*.py"), top_level_only=False)
    graph = {m: {n for n in deps if n.startswith("helpers.rl.")} for m, deps in graph.items()}
    assert _cycle(graph) is None


def test_every_module_imports_first_in_a_fresh_interpreter():
    """One interpreter, ``helpers`` modules dropped from ``sys.modules`` before each import
    (third-party modules stay loaded: they cannot hide a cycle among ours)."""
    script = (
        "import importlib, sys\n"
        "bad = []\n"
        f"for name in {[m for m in MODULES if not m.endswith('__main__')]!r}:\n"
        "    for m in [m for m in sys.modules if m == 'helpers' or m.startswith('helpers.')]:\n"
        "        del sys.modules[m]\n"
        "    try:\n"
        "        importlib.import_module(name)\n"
        "    except Exception as exc:\n"
        "        bad.append(f'{name}: {type(exc).__name__}: {exc}')\n"
        "print('\\n'.join(bad))\n"
        "sys.exit(1 if bad else 0)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], cwd=PACKAGE.parent, capture_output=True, text=True,
                          timeout=600)
    assert done.returncode == 0, done.stdout + done.stderr[-2000:]
