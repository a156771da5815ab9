"""trtexec exports -> a run record (schema/run.schema.json): latency, timings, per-layer and per-op breakdown."""

from __future__ import annotations

import re
from collections import defaultdict
from pathlib import Path
from typing import Any

import edgeattn
from edgeattn.profile.schema import RUN_SCHEMA_ID
from edgeattn.profile.stats import latency_stats
from edgeattn.profile.trtexec import (
    TrtexecExports,
    device_from_exports,
    timed_records,
    timing_section,
    trtexec_summary,
)
from edgeattn.profile.trtexec_layers import (
    COVERAGE_REL_TOLERANCE,
    TOP_LAYERS,
    GraphIndex,
    layer_info,
    layer_rows,
)

_SHAPE = re.compile(r"([^=,\s]+)=(\d+(?:x\d+)*)")


def _table(values: dict[str, float], total: float) -> list[dict[str, Any]]:
    rows = sorted(values.items(), key=lambda kv: (-kv[1], kv[0]))
    return [{"name": k, "ms": v, "share": v / total if total else 0.0} for k, v in rows]


def breakdown(rows: list[dict[str, Any]], profiled_runs: int, timed: dict[str, Any]) -> dict[str, Any]:
    """The op_breakdown section from per-layer rows; compared with the timed runs' GPU compute median."""
    total = sum(r["ms"] for r in rows)
    groups: dict[str, dict[str, float]] = {k: defaultdict(float) for k in ("op_type", "block", "kind", "edgeattn_op")}
    for row in rows:
        for key in ("op_type", "block", "kind"):
            groups[key][row[key]] += row["ms"]
        if row["edgeattn_op"]:
            groups["edgeattn_op"][row["edgeattn_op"]] += row["ms"]
    median = timed["gpu_compute"]["median_ms"]
    top = sorted(rows, key=lambda r: (-r["ms"], r["name"]))[:TOP_LAYERS]
    return {
        "source": f"trtexec --exportProfile: separate profile run, mean of {profiled_runs} profiled iteration(s) "
                  "per layer",
        "profiled_runs": profiled_runs,
        "discarded_runs": 0,
        "run_mean_ms": timed["gpu_compute"]["mean_ms"],
        "nodes_total_ms": total,
        "coverage": total / median if median else 0.0,
        "reference": {"what": "median GPU compute time of the timed (unprofiled) runs", "ms": median},
        "by_op_type": _table(groups["op_type"], total),
        "by_block": _table(groups["block"], total),
        "by_kind": _table(groups["kind"], total),
        "by_edgeattn_op": _table(groups["edgeattn_op"], total),
        "top_nodes": [{"node": r["name"], "op_type": r["op_type"], "block": r["block"], "kind": r["kind"],
                       "edgeattn_op": r["edgeattn_op"], "module": r["module"], "ms": r["ms"]} for r in top],
    }


def layer_profile(rows: list[dict[str, Any]], exports: TrtexecExports, onnx_path: Path | None,
                  reference_ms: float) -> dict[str, Any]:
    """The layer_profile section: every TensorRT layer with its time, share, category and ONNX nodes."""
    total = sum(r["ms"] for r in rows)
    ratio = total / reference_ms if reference_ms else 0.0
    return {
        "files": dict(sorted(exports.files.items())),
        "profiled_iterations": exports.profile_count,
        "layers_total_ms": total,
        "reference_ms": reference_ms,
        "ratio": ratio,
        "tolerance": COVERAGE_REL_TOLERANCE,
        "within_tolerance": abs(ratio - 1.0) <= COVERAGE_REL_TOLERANCE,
        "onnx_graph": onnx_path.name if onnx_path else None,
        "detailed_layer_info": any(isinstance(raw, dict) for raw in exports.layers),
        "traced_layers": sum(1 for r in rows if r["onnx_node_count"]),
        "by_category": _table(_sum_by(rows, "category"), total),
        "layers": [{**r, "share": r["ms"] / total if total else 0.0} for r in rows],
    }


def _sum_by(rows: list[dict[str, Any]], key: str) -> dict[str, float]:
    sums: dict[str, float] = defaultdict(float)
    for row in rows:
        sums[row[key]] += row["ms"]
    return sums


def binding_shapes(exports: TrtexecExports) -> tuple[dict[str, list[int]], list[str]]:
    """Engine input shapes and output names from the layer info's bindings and tensor dimensions."""
    produced, consumed, dims = set(), set(), {}
    for raw in exports.layers:
        info = layer_info(raw)
        for key, target in (("Inputs", consumed), ("Outputs", produced)):
            for tensor in info.get(key, []) or []:
                if isinstance(tensor, dict) and "Name" in tensor:
                    target.add(tensor["Name"])
                    dims.setdefault(tensor["Name"], tensor.get("Dimensions"))
    inputs = {b: [int(d) for d in dims[b]] for b in exports.bindings
              if b in consumed and b not in produced and isinstance(dims.get(b), list)}
    if not inputs:
        options = exports.trex.get("trex_profile", {}).get("inference_options", {})
        inputs = {name: [int(d) for d in shape.split("x")]
                  for name, shape in _SHAPE.findall(str(options.get("Input inference shape", "")))}
    outputs = [b for b in exports.bindings if b not in inputs]
    return inputs, outputs


def environment(device: dict[str, Any], facts: dict[str, Any] | None) -> dict[str, Any]:
    """The environment section of a trtexec run: GPU and versions from trtexec, the rest from device facts."""
    facts = facts or {}
    os_line = facts.get("os")
    return {
        "os": " ".join(os_line.split()[:2]) if os_line else None,
        "machine": os_line.split()[-1] if os_line else None,
        "cpu_model": facts.get("cpu_model"), "cpu_count": facts.get("cpu_count"),
        "usable_cpus": facts.get("usable_cpus"), "threads": None, "gpu": device.get("gpu") or facts.get("model"),
        "python": facts.get("python"),
        "versions": {"tensorrt": device.get("tensorrt") or facts.get("tensorrt"),
                     "cuda": device.get("cuda") or facts.get("cuda")},
    }


def _model(name: str, origin: str, onnx_path: Path | None, shapes: dict[str, list[int]],
           outputs: list[str], notes: list[str]) -> tuple[dict[str, Any], dict[str, Any] | None]:
    params = gflops = roofline = None
    if onnx_path is not None:
        from edgeattn.profile.profiler import gflops_per_image
        from edgeattn.profile.roofline import estimate_for_targets
        from edgeattn.profile.source import onnx_io

        batch = next(iter(shapes.values()))[0] if shapes else 1
        onnx_shapes, _, onnx_outputs, params = onnx_io(onnx_path, batch)
        if shapes and set(shapes) != set(onnx_shapes):
            notes.append(f"engine inputs {sorted(shapes)} are not the inputs {sorted(onnx_shapes)} of "
                         f"{onnx_path.name}: is it the graph the engine was built from?")
        shapes = shapes or {k: list(v) for k, v in onnx_shapes.items()}
        outputs = outputs or onnx_outputs
        gflops = gflops_per_image(onnx_path, onnx_shapes)
        roofline = estimate_for_targets(onnx_path, onnx_shapes)
    return ({"name": name, "origin": origin, "params": params, "gflops": gflops, "input_shapes": shapes,
             "output_names": outputs, "notes": notes}, roofline)


def run_record(exports: TrtexecExports, onnx_path: Path | None = None, model_name: str | None = None,
               origin: str = "trtexec", warmup_runs: int | None = None, requested: dict[str, Any] | None = None,
               facts: dict[str, Any] | None = None) -> dict[str, Any]:
    """A run record from trtexec exports; ``onnx_path`` maps layers to ONNX nodes, blocks and edgeattn ops.

    ``warmup_runs``: iterations to drop as warm-up (our runs); None drops what trtexec ran as warm-up.
    ``requested``: the iterations/duration asked for; ``facts``: device facts (remote runs).
    """
    records, warmup_note = timed_records(exports, warmup_runs)
    timed = timing_section(records, warmup_note)
    shapes, outputs = binding_shapes(exports)
    batch = next(iter(shapes.values()))[0] if shapes else 1
    device = device_from_exports(exports)
    notes = ["latency: trtexec's per-iteration latencyMs (H2D start to D2H end, CUDA events on the device), "
             + warmup_note]
    model, roofline = _model(model_name or exports.stem, origin, onnx_path, shapes, outputs, notes)
    index = GraphIndex.from_model(_load_graph(onnx_path)) if onnx_path is not None else None
    rows = layer_rows(exports.profile, exports.layers, index) if exports.profile else []
    requested = requested or {}
    samples = [float(r["latencyMs"]) for r in records]
    record: dict[str, Any] = {
        "schema": RUN_SCHEMA_ID, "edgeattn_version": edgeattn.__version__, "model": model, "backend": "trtexec",
        "settings": {"batch": batch, "threads": None, "warmup": warmup_runs,
                     "iters": requested.get("iterations", len(records)), "seed": None,
                     **({"duration_s": requested["duration_s"]} if "duration_s" in requested else {})},
        "environment": environment(device, facts), "latency": latency_stats(samples, batch),
        "samples_ms": samples, "memory": None, "interrupted": False,
        "op_breakdown": breakdown(rows, exports.profile_count, timed) if rows else None,
        "roofline": roofline,
        "trtexec": {**timed, "summary": trtexec_summary(exports), "tensorrt": device["tensorrt"],
                    "gpu": device["gpu"], "compute_capability": device["compute_capability"]},
    }
    if rows:
        record["layer_profile"] = layer_profile(rows, exports, onnx_path, timed["gpu_compute"]["median_ms"])
    return record


def _load_graph(onnx_path: Path) -> Any:
    import onnx

    return onnx.load(str(onnx_path), load_external_data=False)


def coverage_line(record: dict[str, Any]) -> str:
    """One line: the per-layer sum against the timed median, and whether it is within the tolerance."""
    profile = record.get("layer_profile")
    if not profile:
        return "no per-layer profile (--exportProfile) in the exports"
    verdict = "within" if profile["within_tolerance"] else "OUTSIDE"
    return (f"per-layer sum {profile['layers_total_ms']:.4f} ms vs timed median GPU compute "
            f"{profile['reference_ms']:.4f} ms: {100 * (profile['ratio'] - 1):+.1f}% "
            f"({verdict} ±{100 * profile['tolerance']:.0f}%)")

