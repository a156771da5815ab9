"""Shared fixtures: a CLI runner that goes through the real entry point (exit codes, error printing)."""

from __future__ import annotations

import os
import sys
from dataclasses import dataclass

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
if os.environ.get("EDGEATTN_TEST_GPU") != "1":
    # Triton reads this when it is first imported, which may happen in any test module: set it before all
    # of them so the CPU suite runs every kernel in the interpreter. GPU runs: EDGEATTN_TEST_GPU=1 pytest tests/gpu
    os.environ["TRITON_INTERPRET"] = "1"
os.environ["COLUMNS"] = "200"  # rich tables are not truncated in captured output


@dataclass
class CliResult:
    exit_code: int
    stdout: str
    stderr: str


@pytest.fixture
def run_cli(capsys, monkeypatch):
    """Run `edgeattn ARGS...` in-process through `edgeattn.cli.main` and capture what it prints."""
    from edgeattn.cli import main

    def run(*args: str) -> CliResult:
        monkeypatch.setattr(sys, "argv", ["edgeattn", *args])
        code = 0
        try:
            main()
        except SystemExit as exit_:
            code = exit_.code if isinstance(exit_.code, int) else 1
        captured = capsys.readouterr()
        return CliResult(code, captured.out, captured.err)

    return run


BROKEN_LOADGROUP = ((9, 2), (3, 8, 0))
"""pytest from 9.2 with pytest-xdist up to 3.8.0 drops xdist_group silently (pytest-xdist#1386)."""


def pytest_configure(config):
    """Refuse an xdist run whose groups would be ignored: the memory-heavy tests would meet on one worker and
    module-scoped exports would run once per worker."""
    if hasattr(config, "workerinput") or not config.getoption("numprocesses", None):
        return
    if config.getoption("dist", None) != "loadgroup":
        return
    from importlib.metadata import version

    xdist = tuple(int(part) for part in version("pytest-xdist").split(".")[:3] if part.isdigit())
    if pytest.version_tuple[:2] >= BROKEN_LOADGROUP[0] and xdist <= BROKEN_LOADGROUP[1]:
        raise pytest.UsageError(
            f"pytest {pytest.__version__} with pytest-xdist {version('pytest-xdist')} ignores xdist_group "
            "(pytest-xdist#1386), which this suite relies on. Install the tested versions: "
            "pip install -c constraints.txt -e '.[test]'")
