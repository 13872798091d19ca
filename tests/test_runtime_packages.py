"""The runtime requirement check: the project's ranges against installed distributions,
and installing exactly what is missing (unit tests, plus a real fresh venv)."""
from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest

from helpers import notebook_setup
from helpers import runtime_packages as rp

ROOT = Path(__file__).resolve().parent.parent
NOTEBOOKS = sorted((ROOT / "notebooks").glob("*.ipynb"))


def _versions(found: dict[str, str]):
    return lambda name: found.get(rp.canonical(name))


def test_project_requirements_are_pyprojects_dependencies():
    reqs = rp.project_requirements()
    assert "torch>=2.4,<2.15" in reqs and "opencv-python-headless>=4.9" in reqs
    assert not any("pytest" in r for r in reqs), "extras are not runtime requirements"


def test_fallback_to_installed_metadata_without_a_pyproject(monkeypatch, tmp_path):
    monkeypatch.setattr(rp, "default_pyproject", lambda: tmp_path / "absent.toml")
    monkeypatch.setattr(rp.metadata, "requires", lambda name: ["six>=1.16", 'pytest>=8; extra == "test"'])
    assert rp.project_requirements() == ["six>=1.16"]


def test_checks_by_distribution_metadata_and_ranges():
    checks = rp.check_requirements(
        ["torch>=2.4,<2.15", "torch-pruning>=1.5", "numpy>=1.26", "av>=14", 'tomli; python_version < "3"'],
        _versions({"torch": "2.6.0+cu124", "torch-pruning": "1.6.1", "numpy": "1.21.0"}),
    )
    by_name = {c.name: c.status for c in checks}
    assert by_name == {"torch": "ok", "torch-pruning": "ok", "numpy": "out of range", "av": "missing"}
    assert rp.describe(checks) == "numpy>=1.26 (1.21.0 found), av>=14 (missing)"


def test_another_opencv_build_meets_the_headless_requirement():
    [check] = rp.check_requirements(["opencv-python-headless>=4.9"], _versions({"opencv-python": "4.10.0.84"}))
    assert check.satisfied and check.found == "4.10.0.84"
    [old] = rp.check_requirements(["opencv-python-headless>=4.9"], _versions({"opencv-python": "4.5.0"}))
    assert old.status == "out of range"


def test_install_passes_only_unmet_requirements_and_pins_torch(monkeypatch):
    checks = rp.check_requirements(
        ["torch>=2.4,<2.15", "torchvision>=0.19", "av>=14", "numpy>=1.26"],
        _versions({"torch": "2.6.0", "torchvision": "0.21.0", "numpy": "1.21.0"}),
    )
    calls = []

    def fake_pip(cmd):
        pins = Path(cmd[cmd.index("-c") + 1]).read_text().split()
        calls.append((cmd, pins))
        return subprocess.CompletedProcess(cmd, 0, "", "")

    assert rp.install(checks, run=fake_pip) == ["av>=14", "numpy>=1.26"]
    [(cmd, pins)] = calls
    assert cmd[:4] == [sys.executable, "-m", "pip", "install"] and "-q" in cmd
    assert cmd[-2:] == ["av>=14", "numpy>=1.26"], "only the unmet requirements are installed"
    assert pins == ["torch==2.6.0", "torchvision==0.21.0"], "an installed torch in range is kept"


def test_nothing_to_install_calls_no_pip():
    checks = rp.check_requirements(["six>=1"], _versions({"six": "1.17.0"}))
    assert rp.install(checks, run=lambda cmd: pytest.fail("pip called")) == []


def test_a_failed_pip_says_what_and_why():
    checks = rp.check_requirements(["av>=14"], _versions({}))
    failed = lambda cmd: subprocess.CompletedProcess(cmd, 1, "", "ERROR: No matching distribution found for av>=14")
    with pytest.raises(RuntimeError, match="No matching distribution"):
        rp.install(checks, run=failed)


def test_ensure_runtime_packages_once_per_kernel(monkeypatch, tmp_path, capsys):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["six>=1", "not-a-real-dist-xyz>=1"]\n')
    monkeypatch.setattr(notebook_setup, "_CHECKED", None)
    monkeypatch.setattr(notebook_setup, "_unar_note", lambda install: "")
    seen = []
    monkeypatch.setattr(rp, "install", lambda checks: seen.append(checks) or [c.requirement for c in rp.unmet(checks)])
    assert notebook_setup.ensure_runtime_packages(install=True, pyproject=pyproject) == ["not-a-real-dist-xyz>=1"]
    assert capsys.readouterr().out == "runtime packages: installed not-a-real-dist-xyz>=1\n"
    assert notebook_setup.ensure_runtime_packages(install=True, pyproject=pyproject) == ["not-a-real-dist-xyz>=1"]
    assert len(seen) == 1, "the second call in the same kernel installs nothing"
    assert "checked earlier" in capsys.readouterr().out


def test_elsewhere_it_only_reports(monkeypatch, tmp_path, capsys):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["six>=1", "not-a-real-dist-xyz>=1"]\n')
    monkeypatch.delenv("KAGGLE_KERNEL_RUN_TYPE", raising=False)
    monkeypatch.setattr(notebook_setup, "_CHECKED", None)
    monkeypatch.setattr(notebook_setup, "_unar_note", lambda install: "")
    monkeypatch.setattr(rp, "install", lambda checks: pytest.fail("installed outside Kaggle"))
    assert notebook_setup.ensure_runtime_packages(pyproject=pyproject, force=True) == []
    out = capsys.readouterr().out.splitlines()
    assert out == ["runtime packages: missing not-a-real-dist-xyz>=1 (missing); run `make install` (or pip install them)"]


def test_no_internet_is_one_line_not_a_crash(monkeypatch, tmp_path, capsys):
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text('[project]\nname = "x"\ndependencies = ["not-a-real-dist-xyz>=1"]\n')
    monkeypatch.setattr(notebook_setup, "_CHECKED", None)
    monkeypatch.setattr(notebook_setup, "_unar_note", lambda install: "")

    def offline(checks):
        raise RuntimeError("pip could not install [...]:\nERROR: No matching distribution found")

    monkeypatch.setattr(rp, "install", offline)
    assert notebook_setup.ensure_runtime_packages(install=True, pyproject=pyproject) == []
    [line] = capsys.readouterr().out.splitlines()
    assert line.startswith("runtime packages: could not install not-a-real-dist-xyz>=1 (missing)")
    assert "No matching distribution" in line and "Internet" in line


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_every_setup_cell_completes_the_image_first(path):
    """The setup cell calls ensure_runtime_packages() before importing anything the
    image may lack (torch, or helpers modules that import it) and before setup_notebook()."""
    import json

    source = "".join(json.loads(path.read_text())["cells"][1]["source"])
    lines = [line for line in source.splitlines() if line.strip() and not line.startswith("#")]
    call = lines.index("ensure_runtime_packages()")
    before = [line for line in lines[:call] if line.startswith(("import ", "from "))]
    assert all(line.startswith(("import sys", "from pathlib", "from helpers.notebook_setup ")) for line in before), before
    assert call < lines.index("setup_notebook()")


@pytest.mark.slow
def test_fresh_venv_gets_exactly_what_it_lacks(tmp_path):
    """A real venv without the packaging library, with six too old: the check reports
    six (out of range) and packaging (missing), not pip (in range), and --install
    installs those two from the registry and leaves pip as it was."""
    venv = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv)], check=True)
    py = str(venv / "bin" / "python")
    env = {**os.environ, "PYTHONPATH": str(ROOT), "PIP_DISABLE_PIP_VERSION_CHECK": "1"}
    env.pop("VIRTUAL_ENV", None)
    subprocess.run([py, "-m", "pip", "install", "-q", "six==1.15.0"], check=True, env=env)
    pip_before = subprocess.run([py, "-m", "pip", "--version"], capture_output=True, text=True, check=True).stdout
    pyproject = tmp_path / "pyproject.toml"
    pyproject.write_text(
        '[project]\nname = "fake"\ndependencies = [\n'
        '  "six>=1.16",\n  "packaging>=23",\n  "pip>=20",\n  \'tomli>=2; python_version < "3.0"\',\n]\n'
    )

    def checker(*extra: str) -> str:
        done = subprocess.run(
            [py, "-m", "helpers.runtime_packages", "--pyproject", str(pyproject), *extra],
            capture_output=True, text=True, env=env, cwd=tmp_path,
        )
        assert done.returncode == 0, done.stderr
        return done.stdout.strip().splitlines()[-1]

    assert checker() == "missing: six>=1.16 (1.15.0 found), packaging>=23 (missing)"
    assert checker("--install") == "installed: six>=1.16, packaging>=23"
    assert checker() == "all requirements met"
    freeze = subprocess.run([py, "-m", "pip", "freeze"], capture_output=True, text=True, env=env).stdout
    names = {line.split("==")[0].lower() for line in freeze.split()}
    assert {"six", "packaging"} <= names and "tomli" not in names
    assert subprocess.run([py, "-m", "pip", "--version"], capture_output=True, text=True).stdout == pip_before
