"""Observers on known distributions: max, percentile quantile, entropy clipping, MSE, streaming."""

from __future__ import annotations

import numpy as np
import pytest

from edgeattn.calibrate.observers import (
    EntropyObserver,
    MaxObserver,
    MSEObserver,
    PercentileObserver,
    make_observer,
)
from edgeattn.errors import EdgeattnError, UsageError

RNG = np.random.default_rng(42)


def _gaussian_with_outlier(n: int = 100_003, outlier: float = 60.0) -> np.ndarray:
    x = np.random.default_rng(42).standard_normal(n).astype(np.float32)
    x[17] = outlier
    return x


def test_max_observer_tracks_extremes_across_batches():
    obs = MaxObserver()
    obs.update(np.array([-3.0, 1.0]))
    obs.update(np.array([2.5, 0.5]))
    assert obs.threshold() == 3.0
    assert obs.signed_range() == (-3.0, 2.5)


@pytest.mark.parametrize("percentile", [90.0, 99.0, 99.9], ids=lambda p: f"p{p}")
def test_percentile_hits_quantile_of_uniform(percentile):
    x = np.random.default_rng(42).uniform(-1.0, 1.0, 200_003).astype(np.float32)
    obs = PercentileObserver(percentile)
    for chunk in np.array_split(x, 7):
        obs.update(chunk)
    expected = np.percentile(np.abs(x), percentile)
    assert obs.threshold() == pytest.approx(expected, abs=2e-3)


def test_entropy_clips_planted_outlier():
    obs = EntropyObserver()
    obs.update(_gaussian_with_outlier())
    t = obs.threshold()
    assert 2.0 < t < 10.0, t
    assert obs.amax == pytest.approx(60.0)


def test_entropy_keeps_full_range_of_uniform():
    obs = EntropyObserver()
    obs.update(np.random.default_rng(42).uniform(-1.0, 1.0, 100_003))
    assert obs.threshold() > 0.9


def _fake_quant_mse(x: np.ndarray, t: float) -> float:
    step = t / 127
    return float(np.mean((x - np.clip(np.round(x / step), -127, 127) * step) ** 2))


@pytest.mark.parametrize("outlier", [8.0, 60.0], ids=["outlier8", "outlier60"])
def test_mse_threshold_matches_brute_force(outlier):
    x = _gaussian_with_outlier(outlier=outlier)
    obs = MSEObserver()
    obs.update(x)
    brute = min(_fake_quant_mse(x, t) for t in np.linspace(0.5, outlier, 400))
    assert _fake_quant_mse(x, obs.threshold()) <= 1.05 * brute
    assert obs.threshold() < outlier


def test_histogram_regrows_when_range_increases_and_keeps_bounded_memory():
    streamed = PercentileObserver(99.0)
    batches = [np.random.default_rng(i).standard_normal(9_973) * (1 + i) for i in range(6)]
    for batch in batches:
        streamed.update(batch)
    assert streamed.hist.shape == (2048,)
    assert streamed.hist.sum() == sum(b.size for b in batches)
    expected = np.percentile(np.abs(np.concatenate(batches)), 99.0)
    assert streamed.threshold() == pytest.approx(expected, rel=0.02)


def test_observer_without_data_and_bad_values_raise():
    with pytest.raises(EdgeattnError, match="no values"):
        MaxObserver().threshold()
    with pytest.raises(EdgeattnError, match="NaN"):
        MaxObserver().update(np.array([1.0, np.nan]))
    with pytest.raises(UsageError, match="unknown calibration method"):
        make_observer("kl")  # type: ignore[arg-type]
