"""The benchmark's head-wise stress axis (benchmarks/head_stress.py): per-head range spread moved into the
weights of every multi-head attention family leaves fp32 outputs unchanged and scales each head's V range by
exactly its factor."""

from __future__ import annotations

import sys
from pathlib import Path

import numpy as np
import pytest
import torch
from calib_helpers import make_site_module

from edgeattn.calibrate.capture import find_sites
from edgeattn.calibrate.headwise import collect_stats

BENCHMARKS = Path(__file__).resolve().parents[2] / "benchmarks"


@pytest.fixture(scope="module")
def head_stress():
    sys.path.insert(0, str(BENCHMARKS))
    try:
        import head_stress
    finally:
        sys.path.remove(str(BENCHMARKS))
    return head_stress


@pytest.mark.parametrize("kind", ["litemla", "cascaded"])
def test_stress_keeps_fp32_and_scales_each_heads_v_range_by_its_factor(head_stress, kind):
    module, shape = make_site_module(kind)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(42))
    stressed, sites, change = head_stress.stressed_model(module, 16.0, x)
    assert sites == 1 and change <= 1e-4
    [before], [after] = find_sites(module), find_sites(stressed)
    batches = [x.numpy()]
    v_before = collect_stats(module, [before], batches)[before.name].head_amax["v"].numpy()
    v_after = collect_stats(stressed, [after], batches)[after.name].head_amax["v"].numpy()
    factors = head_stress.head_factors(before.heads, 16.0).numpy()
    if not before.v_free:
        factors = np.r_[np.ones(before.heads - 1), 16.0]
    np.testing.assert_allclose(v_after / v_before, factors, rtol=1e-4)


@pytest.mark.parametrize("kind", ["shsa", "lowformer"])
def test_single_head_sites_are_left_alone(head_stress, kind):
    module, shape = make_site_module(kind)
    x = torch.randn(shape, generator=torch.Generator().manual_seed(42))
    stressed, sites, change = head_stress.stressed_model(module, 16.0, x)
    assert find_sites(module)[0].heads == 1 and sites == 0 and change == 0.0


def test_factors_run_geometrically_from_one_to_the_spread(head_stress):
    np.testing.assert_allclose(head_stress.head_factors(4, 64.0).numpy(), [1, 4, 16, 64])
    assert head_stress.head_factors(1, 64.0).tolist() == [1.0]
