"""Per-call latency records of a session and their summary (median, p90, p99, throughput)."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

PARTS = ("prepare_ms", "infer_ms", "total_ms")
"""prepare: preprocessing (images) or voxelize + partition (LiDAR); infer: the backend; total: the call."""


@dataclass
class LatencyStats:
    """Wall times of every call since the last reset, in milliseconds."""

    frames: list[int] = field(default_factory=list)
    prepare_ms: list[float] = field(default_factory=list)
    infer_ms: list[float] = field(default_factory=list)
    total_ms: list[float] = field(default_factory=list)

    def record(self, frames: int, prepare_ms: float, infer_ms: float, total_ms: float) -> None:
        self.frames.append(frames)
        self.prepare_ms.append(prepare_ms)
        self.infer_ms.append(infer_ms)
        self.total_ms.append(total_ms)

    def reset(self) -> None:
        for values in (self.frames, self.prepare_ms, self.infer_ms, self.total_ms):
            values.clear()

    @property
    def calls(self) -> int:
        return len(self.total_ms)

    def summary(self) -> dict[str, object]:
        """calls, frames, frames per second of busy time, and median/p90/p99/mean/max per part."""
        result: dict[str, object] = {"calls": self.calls, "frames": int(sum(self.frames))}
        busy_s = sum(self.total_ms) / 1000.0
        result["frames_per_s"] = round(sum(self.frames) / busy_s, 2) if busy_s > 0 else None
        for part in PARTS:
            values = np.asarray(getattr(self, part), dtype=np.float64)
            result[part] = None if values.size == 0 else {
                "median": round(float(np.median(values)), 3),
                "p90": round(float(np.percentile(values, 90)), 3),
                "p99": round(float(np.percentile(values, 99)), 3),
                "mean": round(float(values.mean()), 3),
                "max": round(float(values.max()), 3),
            }
        return result

    def describe(self) -> str:
        """One line: calls, median/p90 total latency and throughput."""
        summary = self.summary()
        total = summary["total_ms"]
        if not total:
            return "no calls recorded"
        return (f"{summary['calls']} calls, {summary['frames']} frames: median {total['median']:.2f} ms, "
                f"p90 {total['p90']:.2f} ms per call, {summary['frames_per_s']} frames/s")
