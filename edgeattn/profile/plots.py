"""Matplotlib figures for reports, returned as self-contained ``data:image/png;base64`` URIs."""

from __future__ import annotations

import base64
import io
from typing import Any

import matplotlib
import numpy as np

matplotlib.use("Agg")
import matplotlib.pyplot as plt

_KIND_COLOURS = {"attention": "#d62728", "conv": "#1f77b4", "norm": "#2ca02c", "other": "#7f7f7f"}


def _to_data_uri(figure: Any) -> str:
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100, bbox_inches="tight", metadata={"Software": None})
    plt.close(figure)
    return "data:image/png;base64," + base64.b64encode(buffer.getvalue()).decode("ascii")


def latency_figure(samples_ms: list[float], title: str) -> str:
    """Histogram of per-run latency with median and p90/p99 marks, beside the run-order trace."""
    figure, (hist, trace) = plt.subplots(1, 2, figsize=(9, 3.2))
    hist.hist(samples_ms, bins=min(30, max(5, len(samples_ms) // 2)), color="#4c72b0")
    for q, style in ((50, "-"), (90, "--"), (99, ":")):
        value = float(np.percentile(samples_ms, q))
        hist.axvline(value, color="black", linestyle=style, label=f"p{q} {value:.2f} ms")
    hist.set_xlabel("latency per batch (ms)")
    hist.set_ylabel("runs")
    hist.legend(fontsize=7)
    trace.plot(range(1, len(samples_ms) + 1), samples_ms, marker=".", linewidth=0.8)
    trace.set_xlabel("timed run")
    trace.set_ylabel("ms")
    figure.suptitle(title, fontsize=10)
    return _to_data_uri(figure)


def breakdown_figure(rows: list[dict[str, Any]], title: str, top: int = 15,
                     colours: dict[str, str] | None = None) -> str:
    """Horizontal bars of mean ms per run for the ``top`` largest groups."""
    shown = rows[:top][::-1]
    figure, axes = plt.subplots(figsize=(7, 0.3 * len(shown) + 1.2))
    palette = colours or {}
    axes.barh([r["name"] for r in shown], [r["ms"] for r in shown],
              color=[palette.get(r["name"], "#4c72b0") for r in shown])
    for i, r in enumerate(shown):
        axes.text(r["ms"], i, f" {100 * r['share']:.1f}%", va="center", fontsize=7)
    axes.set_xlabel("mean ms per run (ONNX Runtime profiler)")
    axes.set_title(title, fontsize=10)
    return _to_data_uri(figure)


def kind_figure(rows: list[dict[str, Any]], title: str) -> str:
    """Bars of time per kind (attention, conv, norm, other) in fixed colours."""
    return breakdown_figure(rows, title, colours=_KIND_COLOURS)


def pareto_front(points: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Points that no other point beats on both counts: more (or equal) GFLOPs ``x`` at less latency ``y``.

    GFLOPs stand in for model capacity (no accuracy is measured here), so the front holds the models
    that buy the most compute per millisecond. Returned in order of increasing latency.
    """
    front: list[dict[str, Any]] = []
    for p in sorted(points, key=lambda p: (p["y"], -p["x"])):
        if not front or p["x"] > front[-1]["x"]:
            front.append(p)
    return front


def pareto_figure(points: list[dict[str, Any]], x_label: str, y_label: str, title: str) -> str:
    """Scatter of (GFLOPs, latency) per model with the Pareto front (lower-right is better) drawn."""
    figure, axes = plt.subplots(figsize=(6.5, 4.2))
    for p in points:
        axes.scatter(p["x"], p["y"], s=30)
        axes.annotate(p["label"], (p["x"], p["y"]), fontsize=7, xytext=(3, 3), textcoords="offset points")
    front = pareto_front(points)
    if len(front) > 1:
        axes.plot([p["x"] for p in front], [p["y"] for p in front], "k--", linewidth=0.8,
                  label="Pareto front: most GFLOPs per latency")
        axes.legend(fontsize=7)
    axes.set_xlabel(x_label)
    axes.set_ylabel(y_label)
    axes.set_title(title, fontsize=10)
    axes.grid(alpha=0.3)
    return _to_data_uri(figure)
