"""`python -m helpers`: dispatch, help, unknown commands."""
from __future__ import annotations

import subprocess
import sys

from helpers import cli


def test_help_lists_every_command(capsys):
    assert cli.main(["--help"]) == 0
    out = capsys.readouterr().out
    for name in cli.COMMANDS:
        assert name in out


def test_unknown_command_exits_2(capsys):
    assert cli.main(["no-such-command"]) == 2
    assert "unknown command 'no-such-command'" in capsys.readouterr().err


def test_every_command_module_exposes_main():
    import importlib

    for name, (module, _) in cli.COMMANDS.items():
        mod = importlib.import_module(module)
        assert callable(getattr(mod, "main", None)), f"{module}.main missing for {name!r}"


def test_python_dash_m_runs_as_a_process():
    done = subprocess.run(
        [sys.executable, "-m", "helpers", "--help"], capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0
    assert "usage: python -m helpers" in done.stdout
