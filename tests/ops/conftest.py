"""Fixtures shared by the per-op tests: a module's `OP` and `ALL_CASES` drive the `cases` fixture."""

from __future__ import annotations

import pytest
from ops_harness import CaseRun


@pytest.fixture(scope="module")
def cases(request):
    """Every case of the test module's `ALL_CASES` for its `OP`, exported once per flavour."""
    return CaseRun(request.module.OP, request.module.ALL_CASES)
