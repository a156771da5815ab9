"""Exports of the largest registry models peak near 10 GB (efficientvit_l3: 9.6 GB for both flavours in a fresh
process), and a long-lived xdist worker keeps much of what it once held (CI lost a worker at 13 GB RSS).
Tests of these models share one xdist group, so one worker runs them one after another, and each runs in a
fresh interpreter whose memory goes back to the OS when it exits."""

from __future__ import annotations

import multiprocessing
from collections.abc import Callable
from concurrent.futures import ProcessPoolExecutor
from typing import Any

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


def run_sized(name: str, check: Callable[..., Any], *args: Any) -> Any:
    """`check(*args)` here, or for a large model in a fresh (spawned) interpreter; its failures re-raise here.
    `check` must be a module-level function of a test module."""
    if not is_large(name):
        return check(*args)
    with ProcessPoolExecutor(max_workers=1, mp_context=multiprocessing.get_context("spawn")) as pool:
        return pool.submit(check, *args).result()
