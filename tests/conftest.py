"""Shared fixtures: a CLI runner that goes through the real entry point (exit codes, error printing)."""

from __future__ import annotations

import ctypes
import ctypes.util
import gc
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


_LIBC = ctypes.CDLL(ctypes.util.find_library("c")) if sys.platform.startswith("linux") else None


@pytest.fixture(autouse=True)
def _return_freed_memory():
    """After each test, hand freed heap pages back to the OS: xdist workers live for the whole run, and
    without this their RSS keeps the high-water mark of every export they ran (CI has 24 GB for two)."""
    yield
    gc.collect()
    if _LIBC is not None and hasattr(_LIBC, "malloc_trim"):
        _LIBC.malloc_trim(0)


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
