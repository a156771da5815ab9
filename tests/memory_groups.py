"""Exports of the largest registry models peak near 10 GB (efficientvit_l3: 9.6 GB for both flavours; CI lost
a worker on van_b2 beside another large export): they share one xdist group, so one worker runs them one after
another and two never meet in CI's 24 GB."""

from __future__ import annotations

import pytest

from edgeattn.backbones.stats import load_stats

LARGE_MODEL_PARAMS_M = 25.0
"""Models above this many million parameters export in the `large-models` group."""


def by_memory(specs: list) -> list:
    """pytest params of registry specs, the large ones marked to run in the `large-models` xdist group."""
    stats = load_stats()
    group = pytest.mark.xdist_group("large-models")
    return [pytest.param(spec, id=spec.name,
                         marks=[group] if stats.get(spec.name, {}).get("params_m", 0.0) > LARGE_MODEL_PARAMS_M else [])
            for spec in specs]
