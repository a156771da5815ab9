"""Exports of the largest registry models peak near 10 GB (efficientvit_l3: 9.6 GB for both flavours in a fresh
process); CI lost a worker when such an export met another large one. Tests of these models share one xdist
group, so one worker runs them one after another."""

from __future__ import annotations

import pytest

from edgeattn.backbones.stats import load_stats

LARGE_MODEL_PARAMS_M = 25.0
"""Models above this many million parameters are large."""


def is_large(name: str) -> bool:
    return load_stats().get(name, {}).get("params_m", 0.0) > LARGE_MODEL_PARAMS_M


def by_memory(specs: list) -> list:
    """pytest params of registry specs, the large ones marked to run in the `large-models` xdist group."""
    group = pytest.mark.xdist_group("large-models")
    return [pytest.param(spec, id=spec.name, marks=[group] if is_large(spec.name) else []) for spec in specs]
