"""Fidelity metrics on known logits, and the calibrate command's argument checks."""

from __future__ import annotations

import numpy as np
import pytest

from edgeattn.exporters.calibrate_command import calibrate_command
from edgeattn.calibrate.fidelity import logit_metrics, sqnr_db
from edgeattn.errors import UsageError


def test_identical_logits_are_perfect():
    ref = np.random.default_rng(42).standard_normal((7, 13))
    metrics = logit_metrics(ref, ref.copy())
    assert metrics["top1_agreement"] == 1.0 and metrics["cosine"] == pytest.approx(1.0)
    assert metrics["sqnr_db"] == float("inf") and metrics["kl"] == pytest.approx(0.0, abs=1e-12)


def test_known_noise_gives_known_sqnr_and_agreement():
    ref = np.random.default_rng(42).standard_normal((49, 11))
    noisy = ref + 0.1 * np.random.default_rng(7).standard_normal(ref.shape)
    expected = 10 * np.log10(np.sum(ref**2) / np.sum((ref - noisy) ** 2))
    assert sqnr_db(ref, noisy) == pytest.approx(expected)
    assert 15.0 < sqnr_db(ref, noisy) < 25.0
    swapped = ref.copy()
    swapped[0] = -swapped[0]
    metrics = logit_metrics(ref, swapped)
    assert metrics["top1_agreement"] == pytest.approx(48 / 49)
    assert metrics["kl"] > 0


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [({"method": "kl"}, "--calib-method"), ({"granularity": "channel"}, "--calib-granularity"),
     ({"style": "qnn"}, "--qdq-style"), ({"resolution": 100}, "multiple of")],
    ids=["method", "granularity", "style", "resolution"],
)
def test_calibrate_command_rejects_bad_arguments(kwargs, message, tmp_path):
    with pytest.raises(UsageError, match=message):
        calibrate_command("shvit_s1", "samples", out=tmp_path / "x", **kwargs)
    assert not (tmp_path / "x").exists()
