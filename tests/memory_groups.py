"""Exports of the largest registry models peak near 10 GB (efficientvit_l3: 9.6 GB for both flavours in a fresh
process) on top of what a long-lived xdist worker already holds; CI lost a worker when two met. Tests of
these models share one xdist group, so one worker runs them one after another; the one model above 200 M
parameters is opt-in."""

from __future__ import annotations

import os

import pytest

from edgeattn.backbones.stats import load_stats

LARGE_MODEL_PARAMS_M = 25.0
"""Models above this many million parameters are large."""
HUGE_MODEL_PARAMS_M = 200.0
"""Models above this export only with EDGEATTN_TEST_HUGE_MODELS=1 (efficientvit_l3: 246 M parameters)."""
HUGE_ENV = "EDGEATTN_TEST_HUGE_MODELS"


def _params_m(name: str) -> float:
    return load_stats().get(name, {}).get("params_m", 0.0)


def is_large(name: str) -> bool:
    return _params_m(name) > LARGE_MODEL_PARAMS_M


def _marks(name: str) -> list:
    marks = [pytest.mark.xdist_group("large-models")] if is_large(name) else []
    if _params_m(name) > HUGE_MODEL_PARAMS_M and os.environ.get(HUGE_ENV) != "1":
        marks.append(pytest.mark.skip(reason=(
            f"{name} ({_params_m(name):.0f} M parameters) peaks near 10 GB on top of a worker's own memory, more "
            f"than two xdist workers can share in CI's 24 GB; its family's blocks are exported by the smaller "
            f"variants. Run with {HUGE_ENV}=1 on a larger machine.")))
    return marks


def by_memory(specs: list) -> list:
    """pytest params of registry specs: large ones in the `large-models` xdist group, huge ones opt-in."""
    return [pytest.param(spec, id=spec.name, marks=_marks(spec.name)) for spec in specs]
