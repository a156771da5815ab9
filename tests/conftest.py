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
