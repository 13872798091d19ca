"""Which of the project's requirements the running Python lacks, and installing them.

The requirement ranges are the project's own (``[project].dependencies`` of
``pyproject.toml``, or the installed ``helpers`` distribution's metadata when the
package was pip-installed without its source tree), so a Kaggle image is completed
rather than replaced: a requirement counts as met when an installed distribution is in
its range, and only the missing or out-of-range ones are handed to pip. Distributions
are checked by their metadata (``opencv-python-headless`` provides ``cv2``, an import
check would be fooled by another OpenCV build), and torch/torchvision, when installed
and in range, are pinned to their installed versions for the install so a dependency
never drags in another multi-gigabyte build.

Stdlib only, with ``packaging`` (or pip's vendored copy), so it runs in a bare
interpreter: ``python -m helpers.runtime_packages [--install] [--pyproject PATH]``.
"""
from __future__ import annotations

import argparse
import re
import subprocess
import sys
import tempfile
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path

try:  # ``packaging`` is in every pip-managed environment; pip vendors it otherwise
    from packaging.markers import UndefinedEnvironmentName
    from packaging.requirements import Requirement
except ImportError:  # pragma: no cover - exercised by the bare-venv test
    from pip._vendor.packaging.markers import UndefinedEnvironmentName  # type: ignore[no-redef]
    from pip._vendor.packaging.requirements import Requirement  # type: ignore[no-redef]

PROJECT = "helpers"

# Installed as-is when present and in range: never reinstalled, and pinned for pip.
KEEP_INSTALLED: tuple[str, ...] = ("torch", "torchvision")

# Distributions that provide the same modules: any one of them in range meets the
# requirement (installing a second OpenCV build beside the image's breaks ``cv2``).
ALTERNATIVES: dict[str, tuple[str, ...]] = {
    "opencv-python-headless": ("opencv-python", "opencv-contrib-python", "opencv-contrib-python-headless"),
    "onnxruntime": ("onnxruntime-gpu",),
}


def canonical(name: str) -> str:
    """A distribution name as PEP 503 compares them (``Torch_Pruning`` == ``torch-pruning``)."""
    return re.sub(r"[-_.]+", "-", name).lower()


def installed_version(name: str) -> str | None:
    """The installed version of distribution ``name``, or None."""
    try:
        return metadata.version(name)
    except metadata.PackageNotFoundError:
        return None


def _load_toml(path: Path) -> dict:
    """Parse a TOML file with ``tomllib`` (3.11+) or ``tomli`` (3.10)."""
    try:
        import tomllib
    except ImportError:  # pragma: no cover - Python 3.10
        import tomli as tomllib  # type: ignore[no-redef]
    with path.open("rb") as f:
        return tomllib.load(f)


def default_pyproject() -> Path:
    """The ``pyproject.toml`` beside the ``helpers`` package (a clone or editable install)."""
    return Path(__file__).resolve().parent.parent / "pyproject.toml"


def project_requirements(pyproject: Path | None = None) -> list[str]:
    """The project's runtime requirement strings: ``[project].dependencies`` of the
    pyproject when there is one, else the installed ``helpers`` metadata (extras left out)."""
    path = default_pyproject() if pyproject is None else Path(pyproject)
    if path.is_file():
        return list(_load_toml(path).get("project", {}).get("dependencies", []))
    if pyproject is not None:
        raise FileNotFoundError(f"no pyproject.toml at {path}")
    requires = metadata.requires(PROJECT) or []
    return [r for r in requires if "extra" not in str(Requirement(r).marker or "")]


def _applies(req: Requirement) -> bool:
    """Whether a requirement's environment marker holds here (extras never do)."""
    if req.marker is None:
        return True
    try:
        return req.marker.evaluate({"extra": ""})
    except UndefinedEnvironmentName:
        return False


@dataclass(frozen=True)
class Check:
    """One requirement against this environment: the version found (None: absent)."""

    requirement: str
    name: str
    found: str | None
    satisfied: bool

    @property
    def status(self) -> str:
        """``ok``, ``missing`` or ``out of range``."""
        if self.satisfied:
            return "ok"
        return "missing" if self.found is None else "out of range"


def check_requirement(text: str, version_of: Callable[[str], str | None] = installed_version) -> Check:
    """Compare one requirement string with what is installed (or its alternatives)."""
    req = Requirement(text)
    name = canonical(req.name)
    found: str | None = None
    for candidate in (req.name, *ALTERNATIVES.get(name, ())):
        version = version_of(candidate)
        if version is None:
            continue
        found = found or version
        if req.specifier.contains(version, prereleases=True):
            return Check(text, name, version, True)
    return Check(text, name, found, False)


def check_requirements(
    requirements: Iterable[str], version_of: Callable[[str], str | None] = installed_version
) -> list[Check]:
    """Every requirement whose marker applies here, checked."""
    return [check_requirement(r, version_of) for r in requirements if _applies(Requirement(r))]


def unmet(checks: Iterable[Check]) -> list[Check]:
    """The missing or out-of-range requirements."""
    return [c for c in checks if not c.satisfied]


def pins(checks: Iterable[Check], keep: Sequence[str] = KEEP_INSTALLED) -> list[str]:
    """``name==version`` for each kept distribution that is installed and in range."""
    wanted = {canonical(k) for k in keep}
    return [f"{c.name}=={c.found}" for c in checks if c.satisfied and c.name in wanted and c.found]


def pip_command(requirements: Sequence[str], constraints: Path | None) -> list[str]:
    """The quiet pip call installing exactly ``requirements``."""
    cmd = [sys.executable, "-m", "pip", "install", "-q", "--disable-pip-version-check"]
    if constraints is not None:
        cmd += ["-c", str(constraints)]
    return [*cmd, *requirements]


def install(
    checks: Sequence[Check],
    keep: Sequence[str] = KEEP_INSTALLED,
    run: Callable[[list[str]], subprocess.CompletedProcess] | None = None,
) -> list[str]:
    """pip-install the unmet requirements of ``checks`` (kept distributions pinned to
    their installed versions); returns the requirement strings installed. pip's own
    output is shown only when it fails."""
    todo = [c.requirement for c in unmet(checks)]
    if not todo:
        return []
    run = run or (lambda cmd: subprocess.run(cmd, capture_output=True, text=True))
    with tempfile.TemporaryDirectory() as tmp:
        constraints = None
        pinned = pins(checks, keep)
        if pinned:
            constraints = Path(tmp) / "keep-installed.txt"
            constraints.write_text("\n".join(pinned) + "\n")
        done = run(pip_command(todo, constraints))
    if done.returncode != 0:
        tail = "\n".join(((done.stdout or "") + (done.stderr or "")).strip().splitlines()[-15:])
        raise RuntimeError(f"pip could not install {todo}:\n{tail}")
    import importlib

    importlib.invalidate_caches()  # so this interpreter imports what pip just added
    return todo


def describe(checks: Sequence[Check]) -> str:
    """One phrase per unmet requirement: ``av>=14 (missing)``, ``numpy>=1.26 (1.21 found)``."""
    return ", ".join(
        f"{c.requirement} ({'missing' if c.found is None else c.found + ' found'})" for c in unmet(checks)
    )


def main(argv: list[str] | None = None) -> int:
    """Report what this interpreter lacks; with ``--install`` install it. Last line:
    ``missing: …`` / ``installed: …`` / ``all requirements met``."""
    p = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    p.add_argument("--pyproject", type=Path, help="default: the one beside the package")
    p.add_argument("--install", action="store_true", help="pip-install what is missing or out of range")
    args = p.parse_args(argv)
    checks = check_requirements(project_requirements(args.pyproject))
    if not unmet(checks):
        print("all requirements met")
    elif args.install:
        print("installed: " + ", ".join(install(checks)))
    else:
        print("missing: " + describe(checks))
    return 0


if __name__ == "__main__":
    sys.exit(main())
