"""Per-op breakdown from ONNX Runtime's profiler, aggregated by op type, block, kind and edgeattn op.

The profiled session is separate from the timed one (the profiler adds overhead), uses the same
thread settings, and saves ORT's optimised graph so that its node names can be traced back to the
exported graph's module scopes (see ``blocks.attribute_nodes``). Each kernel event is assigned to the
``model_run`` that contains it; warm-up runs and disturbed runs (longer than ``OUTLIER_FACTOR`` × the
median run, e.g. when another process took the CPU) are left out, and the record says how many.
"""

from __future__ import annotations

import bisect
import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np
import onnx

from edgeattn.errors import EdgeattnError
from edgeattn.profile.blocks import UNKNOWN, NodeOrigin, attribute_nodes
from edgeattn.runners import Feeds
from edgeattn.runners.ort import OrtRunner

KERNEL_SUFFIX = "_kernel_time"
OUTLIER_FACTOR = 1.5
TOP_NODES = 25


def split_runs(trace: list[dict[str, Any]], warmup: int = 0) -> list[tuple[float, list[dict[str, Any]]]]:
    """(run duration in ms, its kernel events) for each model run after the first ``warmup`` runs."""
    runs = sorted((e for e in trace if e.get("cat") == "Session" and e.get("name") == "model_run"),
                  key=lambda e: e["ts"])
    starts = [r["ts"] for r in runs]
    per_run: list[list[dict[str, Any]]] = [[] for _ in runs]
    for event in trace:
        if event.get("cat") != "Node" or not str(event.get("name", "")).endswith(KERNEL_SUFFIX):
            continue
        index = bisect.bisect_right(starts, event["ts"]) - 1
        if index >= 0 and event["ts"] <= runs[index]["ts"] + runs[index]["dur"]:
            per_run[index].append(event)
    return [(r["dur"] / 1000.0, events) for r, events in zip(runs, per_run)][warmup:]


def aggregate(runs: list[tuple[float, list[dict[str, Any]]]], origins: dict[str, NodeOrigin]) -> dict[str, Any]:
    """Mean ms per run by op type, block, kind and edgeattn op, plus the slowest nodes.

    ``runs`` are (run duration ms, kernel events) pairs; disturbed runs are dropped first.
    """
    if not runs:
        raise EdgeattnError("the ONNX Runtime trace has no model runs to aggregate",
                            "run at least one profiled iteration (op_profile_iters 1 or more)")
    median = float(np.median([duration for duration, _ in runs]))
    kept = [(d, events) for d, events in runs if d <= OUTLIER_FACTOR * median]
    count = len(kept)
    per_node: dict[str, float] = defaultdict(float)
    op_of: dict[str, str] = {}
    for _, events in kept:
        for event in events:
            name = event["name"][: -len(KERNEL_SUFFIX)]
            per_node[name] += event["dur"] / 1000.0
            op_of[name] = event.get("args", {}).get("op_name", "?")

    groups: dict[str, dict[str, float]] = {k: defaultdict(float) for k in ("op_type", "block", "kind", "edgeattn_op")}
    node_rows = []
    for name, total in per_node.items():
        mean = total / count
        origin = origins.get(name, UNKNOWN)
        groups["op_type"][op_of[name]] += mean
        groups["block"][origin.block] += mean
        groups["kind"][origin.kind] += mean
        if origin.edgeattn_op:
            groups["edgeattn_op"][origin.edgeattn_op] += mean
        node_rows.append({"node": name, "op_type": op_of[name], "block": origin.block, "kind": origin.kind,
                          "edgeattn_op": origin.edgeattn_op, "module": origin.module, "ms": mean})

    nodes_total = sum(per_node.values()) / count
    run_mean = float(np.mean([d for d, _ in kept]))

    def table(values: dict[str, float]) -> list[dict[str, Any]]:
        rows = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
        return [{"name": k, "ms": v, "share": v / nodes_total if nodes_total else 0.0} for k, v in rows]

    node_rows.sort(key=lambda r: (-r["ms"], r["node"]))
    return {
        "source": "onnxruntime profiler (SessionOptions.enable_profiling), separate profiled session",
        "profiled_runs": count,
        "discarded_runs": len(runs) - count,
        "run_mean_ms": run_mean,
        "nodes_total_ms": nodes_total,
        "coverage": nodes_total / run_mean if run_mean else 0.0,
        "by_op_type": table(groups["op_type"]),
        "by_block": table(groups["block"]),
        "by_kind": table(groups["kind"]),
        "by_edgeattn_op": table(groups["edgeattn_op"]),
        "top_nodes": node_rows[:TOP_NODES],
    }


def profile_ort_ops(onnx_path: str | Path, feeds: Feeds, threads: int, iters: int, workdir: str | Path,
                    warmup: int = 2) -> dict[str, Any]:
    """Run ``warmup`` + ``iters`` profiled ORT CPU runs and aggregate the timed ones."""
    workdir = Path(workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    optimized_path = workdir / "ort_optimized.onnx"
    runner = OrtRunner(onnx_path, threads=threads, profile_prefix=workdir / "ort_profile",
                          optimized_model_path=optimized_path)
    runner.prepare()
    try:
        for _ in range(warmup + iters):
            runner.infer(feeds)
    finally:
        trace_path = runner.end_profiling()
        runner.close()
    runs = split_runs(json.loads(trace_path.read_text()), warmup=warmup)
    origins = attribute_nodes(onnx.load(str(onnx_path), load_external_data=False),
                              onnx.load(str(optimized_path), load_external_data=False))
    return aggregate(runs, origins)
