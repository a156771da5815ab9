"""GPU test options. EDGEATTN_GPU_DEADLINE (Unix time): tests not started by then are skipped, so a
time-boxed GPU session (benchmarks/gpu_session.py) still ends with a complete report."""

from __future__ import annotations

import os
import time

import pytest

DEADLINE_ENV = "EDGEATTN_GPU_DEADLINE"


def pytest_runtest_setup(item: pytest.Item) -> None:
    deadline = os.environ.get(DEADLINE_ENV)
    if deadline and time.time() > float(deadline):
        pytest.skip(f"the GPU session's time budget is spent ({DEADLINE_ENV})")
