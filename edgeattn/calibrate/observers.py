"""Range observers: max, percentile, entropy (KL) and MSE-optimal, streaming over batches.

Every observer sees a tensor batch by batch (`update`) and keeps bounded state: a running min/max and,
for the histogram observers, a fixed number of bins over |x|. When a batch exceeds the histogram's
range the range grows by a power of two and neighbouring bins are merged, so earlier batches are never
re-read and memory never grows.

`threshold()` is the symmetric clipping value T (int8 scale = T / 127); `signed_range()` gives the
(lo, hi) range for asymmetric (u8) quantization, clipped by the same threshold.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from edgeattn.errors import EdgeattnError, UsageError

Method = Literal["max", "percentile", "entropy", "mse"]
METHODS: tuple[Method, ...] = ("max", "percentile", "entropy", "mse")

DEFAULT_BINS = 2048
DEFAULT_LEVELS = 128
DEFAULT_START_BIN = 128
DEFAULT_PERCENTILE = 99.99


class Observer:
    """Running min/max; the base of every observer."""

    method: Method = "max"

    def __init__(self) -> None:
        self.count = 0
        self.min = np.inf
        self.max = -np.inf

    def update(self, x: np.ndarray) -> None:
        """Add one batch of values (any shape, any float dtype)."""
        x = np.asarray(x, dtype=np.float32)
        if x.size == 0:
            return
        if not np.all(np.isfinite(x)):
            raise EdgeattnError(
                "a calibration tensor contains NaN or Inf values",
                "Check the model and the calibration data: an fp32 model must produce finite activations.",
            )
        self.count += x.size
        self.min = min(self.min, float(x.min()))
        self.max = max(self.max, float(x.max()))

    @property
    def amax(self) -> float:
        self._require_data()
        return max(abs(self.min), abs(self.max))

    def threshold(self) -> float:
        """Symmetric clipping threshold T (> 0)."""
        return _positive(self.amax)

    def signed_range(self) -> tuple[float, float]:
        """(lo, hi) for asymmetric quantization: the observed range clipped to [-T, T], always containing 0."""
        t = self.threshold()
        return min(0.0, max(self.min, -t)), max(0.0, min(self.max, t))

    def _require_data(self) -> None:
        if self.count == 0:
            raise EdgeattnError(
                "an observer saw no values",
                "Run calibration with at least one batch before reading ranges.",
            )


class MaxObserver(Observer):
    """T = max |x| over everything seen."""


class ChannelMaxObserver(Observer):
    """Per-channel (axis 1) min/max, for the per-axis activation analysis option only."""

    def __init__(self) -> None:
        super().__init__()
        self.channel_min: np.ndarray | None = None
        self.channel_max: np.ndarray | None = None

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float32)
        if x.size == 0:
            return
        super().update(x)
        moved = np.moveaxis(x, 1, 0).reshape(x.shape[1], -1) if x.ndim > 1 else x.reshape(1, -1)
        lo, hi = moved.min(axis=1), moved.max(axis=1)
        self.channel_min = lo if self.channel_min is None else np.minimum(self.channel_min, lo)
        self.channel_max = hi if self.channel_max is None else np.maximum(self.channel_max, hi)


class HistogramObserver(Observer):
    """Histogram of |x| on [0, hist_max) with `bins` equal bins; the range doubles when data exceeds it."""

    def __init__(self, bins: int = DEFAULT_BINS) -> None:
        super().__init__()
        if bins < 16:
            raise UsageError(f"histogram needs at least 16 bins, got {bins}", "Use the default 2048 bins.")
        self.bins = bins
        self.hist = np.zeros(bins, dtype=np.float64)
        self.hist_max = 0.0

    def update(self, x: np.ndarray) -> None:
        x = np.asarray(x, dtype=np.float32)
        if x.size == 0:
            return
        super().update(x)
        x = np.abs(x).ravel()
        batch_max = float(x.max())
        if self.hist_max == 0.0:
            self.hist_max = _positive(batch_max)
        elif batch_max >= self.hist_max:
            self._grow(batch_max)
        counts, _ = np.histogram(x, bins=self.bins, range=(0.0, self.hist_max))
        self.hist += counts

    def _grow(self, needed: float) -> None:
        factor = 1
        while self.hist_max * factor <= needed:
            factor *= 2
        if factor >= self.bins:
            merged = np.zeros(self.bins)
            merged[0] = self.hist.sum()
        else:
            merged = np.zeros(self.bins)
            merged[: self.bins // factor] = self.hist.reshape(-1, factor).sum(axis=1)
        self.hist = merged
        self.hist_max *= factor

    @property
    def bin_width(self) -> float:
        return self.hist_max / self.bins


class PercentileObserver(HistogramObserver):
    """T = the given percentile of |x| (linear interpolation inside the histogram bin)."""

    method: Method = "percentile"

    def __init__(self, percentile: float = DEFAULT_PERCENTILE, bins: int = DEFAULT_BINS) -> None:
        super().__init__(bins)
        if not 0.0 < percentile <= 100.0:
            raise UsageError(f"percentile must be in (0, 100], got {percentile}", "Use e.g. 99.99.")
        self.percentile = percentile

    def threshold(self) -> float:
        self._require_data()
        cdf = np.cumsum(self.hist)
        target = cdf[-1] * self.percentile / 100.0
        index = int(np.searchsorted(cdf, target, side="left"))
        index = min(index, self.bins - 1)
        below = cdf[index - 1] if index > 0 else 0.0
        inside = self.hist[index]
        fraction = (target - below) / inside if inside > 0 else 1.0
        value = (index + fraction) * self.bin_width
        return _positive(min(value, self.amax))


class EntropyObserver(HistogramObserver):
    """T minimising KL(P || Q) between the clipped |x| histogram and its `levels`-level quantization.

    Candidates are every bin edge from `start_bin` to `bins` (default 128 .. 2048 with 128 levels), so
    the search can clip: outliers beyond a candidate are folded into its last bin, as TensorRT does.
    """

    method: Method = "entropy"

    def __init__(self, bins: int = DEFAULT_BINS, levels: int = DEFAULT_LEVELS, start_bin: int | None = None) -> None:
        super().__init__(bins)
        if levels < 2 or levels > bins:
            raise UsageError(f"levels must be in [2, bins], got {levels}", "Use 128 levels with 2048 bins.")
        self.levels = levels
        self.start_bin = start_bin or levels
        if self.start_bin < levels:
            raise UsageError("start_bin must be >= levels", "Leave start_bin unset.")

    def threshold(self) -> float:
        self._require_data()
        hist = self.hist
        last_nonzero = int(np.flatnonzero(hist).max()) + 1 if hist.any() else self.bins
        stop = max(self.start_bin, last_nonzero)
        candidates = np.arange(self.start_bin, stop + 1)
        kl = np.array([_clipped_kl(hist, int(i), self.levels) for i in candidates])
        best = int(candidates[int(np.argmin(kl))])
        return _positive(min(best * self.bin_width, self.amax))


class MSEObserver(HistogramObserver):
    """T minimising the expected squared error of symmetric int8 fake quantization under the histogram."""

    method: Method = "mse"

    def __init__(self, bins: int = DEFAULT_BINS, candidates: int = 256, levels: int = 127) -> None:
        super().__init__(bins)
        self.candidates = candidates
        self.levels = levels

    def threshold(self) -> float:
        self._require_data()
        centers = (np.arange(self.bins) + 0.5) * self.bin_width
        thresholds = np.linspace(self.amax / self.candidates, self.amax, self.candidates)
        step = thresholds[:, None] / self.levels
        clipped = centers[None, :] > thresholds[:, None]
        error = np.where(clipped, (centers[None, :] - thresholds[:, None]) ** 2, step**2 / 12.0)
        expected = (error * self.hist[None, :]).sum(axis=1)
        return _positive(float(thresholds[int(np.argmin(expected))]))


def _clipped_kl(hist: np.ndarray, stop: int, levels: int) -> float:
    """KL(P || Q): P = hist[:stop] with the outliers folded into its last bin, Q = hist[:stop] merged into
    `levels` groups and spread evenly over the bins where P is non-zero (TensorRT's entropy calibration)."""
    sliced = hist[:stop]
    reference = sliced.copy()
    reference[-1] += hist[stop:].sum()
    nonzero = reference > 0
    starts = (np.arange(levels) * stop) // levels
    sizes = np.diff(np.append(starts, stop))
    group_sum = np.add.reduceat(sliced, starts)
    group_used = np.add.reduceat(nonzero.astype(np.float64), starts)
    per_bin = np.divide(group_sum, group_used, out=np.zeros(levels), where=group_used > 0)
    quantized = np.repeat(per_bin, sizes) * nonzero
    p = reference / reference.sum()
    q_total = quantized.sum()
    if q_total == 0:
        return float("inf")
    q = quantized / q_total
    q = np.where(nonzero & (q == 0), 1e-12, q)
    return float(np.sum(p[nonzero] * np.log(p[nonzero] / q[nonzero])))


def _positive(value: float) -> float:
    return float(value) if value > 0 else float(np.finfo(np.float32).tiny)


def make_observer(method: Method, percentile: float = DEFAULT_PERCENTILE) -> Observer:
    """A fresh observer for one tensor."""
    if method == "max":
        return MaxObserver()
    if method == "percentile":
        return PercentileObserver(percentile)
    if method == "entropy":
        return EntropyObserver()
    if method == "mse":
        return MSEObserver()
    raise UsageError(f"unknown calibration method {method!r}", f"Use one of: {', '.join(METHODS)}.")
