"""Latency statistics from a list of timed runs."""

from __future__ import annotations

import numpy as np

from edgeattn.errors import EdgeattnError


def latency_stats(samples_ms: list[float], batch: int) -> dict[str, float]:
    """Summarise per-run latencies (milliseconds) of batches of size `batch`.

    Percentiles use linear interpolation; throughput is images per second at the median latency.
    """
    if not samples_ms:
        raise EdgeattnError(
            "no timed runs finished, so there is nothing to summarise",
            "run with --iterations 1 or more and let at least one run finish before stopping",
        )
    values = np.asarray(samples_ms, dtype=np.float64)
    median = float(np.median(values))
    return {
        "count": int(values.size),
        "mean_ms": float(values.mean()),
        "std_ms": float(values.std()),
        "median_ms": median,
        "p90_ms": float(np.percentile(values, 90)),
        "p99_ms": float(np.percentile(values, 99)),
        "min_ms": float(values.min()),
        "max_ms": float(values.max()),
        "throughput_ips": float(batch * 1000.0 / median) if median > 0 else 0.0,
    }
