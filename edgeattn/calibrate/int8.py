"""INT8 graphs of the precision stage: ranges, sensitivity fallback, CPU gate, Q/DQ, head scales, fidelity."""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import numpy as np
import onnx
from onnx import helper, numpy_helper

from edgeattn.backbones.spec import ModelSpec
from edgeattn.bundle_files import graph_file
from edgeattn.calibrate.cpu_gate import select_regions
from edgeattn.calibrate.fidelity import evaluate
from edgeattn.calibrate.headwise import HeadwiseResult, head_scales
from edgeattn.calibrate.islands import PLUGIN_DOMAIN, ensure_node_names, find_islands, rules_from_hints
from edgeattn.calibrate.precision import (
    PrecisionResult,
    TorchReference,
    output_kind,
    plugin_fidelity,
    step,
    summary,
)
from edgeattn.calibrate.qdq import (
    QDQ_SEMANTICS,
    QDQConfig,
    activation_tensors,
    collect_ranges,
    insert_qdq,
    quantized_inputs,
)
from edgeattn.calibrate.sensitivity import Fallback, matching_nodes, select_fallback
from edgeattn.calibrate.sets import CalibrationConfig, CalibrationSets, first_batches
from edgeattn.errors import EdgeattnError
from edgeattn.ops import all_ops

SENSITIVITY_INPUTS = 16
"""Calibration inputs the sensitivity ranking runs on (one ORT run per quantized node per input)."""


@dataclass
class _Plan:
    """Per-flavour Q/DQ configs and what decided them."""

    configs: dict[str, QDQConfig]
    islands: dict[str, dict[str, str]]
    fallback: Fallback | None = None
    plugin_fallback: frozenset[str] = frozenset()
    gate: Any = None


def build_int8(graphs: dict[str, onnx.ModelProto], spec: ModelSpec, calib: CalibrationConfig, sets: CalibrationSets,
               torch_reference: TorchReference, headwise: HeadwiseResult | None, progress: Any = None) -> PrecisionResult:
    """INT8 copies of every flavour of `graphs` (the fp32 graphs of the calibrated model)."""
    graphs = {flavour: _named(graph) for flavour, graph in graphs.items()}
    portable, data = graphs["portable"], sets.calibration
    rules = rules_from_hints(spec.fp32_sensitive)
    islands = {f: find_islands(g, rules) for f, g in graphs.items()}
    plan = _Plan({f: QDQConfig(calib.style, calib.method, calib.percentile, skip_nodes=frozenset(islands[f]))
                  for f in graphs}, islands)
    with step(progress, "int8: calibrate ranges"):
        observers = collect_ranges(portable, data.batches, _tensors(graphs, plan), plan.configs["portable"],
                                   calib.threads)
    if calib.min_cosine is not None:
        with step(progress, "int8: sensitivity fallback"):
            _apply_fallback(graphs, plan, observers, first_batches(data.batches, SENSITIVITY_INPUTS), calib)
    with step(progress, "int8: emit Q/DQ"):
        if calib.cpu_gate:
            dim = portable.graph.input[0].type.tensor_type.shape.dim[0]
            sample = sets.evaluation.batches[0][: dim.dim_value or 1].astype(np.float32)
            plan.gate = select_regions(portable, plan.configs["portable"],
                                       lambda cfg: insert_qdq(portable, observers, cfg).model, sample, calib.threads)
            plan.configs["portable"] = replace(plan.configs["portable"], skip_nodes=plan.gate.skip_nodes)
        results, uncalibrated = _emit(graphs, plan, observers, headwise)
    result = PrecisionResult(graphs={graph_file(f, "int8"): r.model for f, r in results.items()})
    with step(progress, "int8: fidelity"):
        report = evaluate(portable, result.graphs[graph_file("portable", "int8")], sets.evaluation.batches,
                          f"int8-{calib.granularity}", qdq=QDQ_SEMANTICS[calib.style], threads=calib.threads,
                          torch_reference=torch_reference, outputs=output_kind(spec))
    result.reports["fidelity.json"] = {
        "int8": report.to_json(), "data": sets.evaluation.describe(), "held_out": sets.held_out,
        "qdq": QDQ_SEMANTICS[calib.style], "reference": "fp32 torch model (per-layer SQNR: fp32 portable graph)",
        "headwise_max_rel_change": headwise.max_rel_change if headwise else None,
        **plugin_fidelity(result.graphs, "int8", sets, torch_reference, output_kind(spec))}
    result.reports["calibration.json"] = _calibration_record(calib, data, results, plan, headwise, uncalibrated)
    result.manifest = {"precision": "int8", "calibration": {
        "method": calib.method, "granularity": calib.granularity, "style": calib.style, "data": data.source,
        "count": data.count, "fallback_nodes": None if plan.fallback is None else len(plan.fallback.kept)},
        "fidelity": summary(report)}
    return result


def _named(graph: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(graph)
    ensure_node_names(copy)
    return copy


def _tensors(graphs: dict[str, onnx.ModelProto], plan: _Plan) -> list[str]:
    """Tensors to calibrate: the portable graph's, plus those the plugin graph quantizes that exist there."""
    portable = graphs["portable"]
    tensors = activation_tensors(portable, plan.configs["portable"])
    if "plugins" in graphs:
        names = {out for node in portable.graph.node for out in node.output} | {i.name for i in portable.graph.input}
        tensors += [t for t in activation_tensors(graphs["plugins"], plan.configs["plugins"])
                    if t in names and t not in tensors]
    return tensors


def _apply_fallback(graphs, plan: _Plan, observers, inputs, calib: CalibrationConfig) -> None:
    portable = graphs["portable"]
    plan.fallback = select_fallback(portable, observers, plan.configs["portable"], inputs, calib.min_cosine,
                                    calib.threads)
    plan.configs["portable"] = replace(plan.configs["portable"], skip_nodes=plan.fallback.skip_nodes)
    if "plugins" in graphs:
        plan.plugin_fallback = matching_nodes(portable, graphs["plugins"], plan.fallback.kept)
        plan.configs["plugins"] = replace(plan.configs["plugins"],
                                          skip_nodes=plan.configs["plugins"].skip_nodes | plan.plugin_fallback)


def _emit(graphs, plan: _Plan, observers, headwise: HeadwiseResult | None):
    results, uncalibrated = {}, []
    for flavour, graph in graphs.items():
        config = plan.configs[flavour]
        if flavour == "plugins":
            missing = _uncalibrated_nodes(graph, config, observers)
            uncalibrated = sorted(missing)
            config = replace(config, skip_nodes=config.skip_nodes | frozenset(missing))
        results[flavour] = insert_qdq(graph, observers, config)
    if "plugins" in results and headwise is not None:
        attach_head_scales(results["plugins"].model, headwise.sites)
    return results, uncalibrated


def _uncalibrated_nodes(graph: onnx.ModelProto, config: QDQConfig, observers: dict) -> set[str]:
    """Plugin-graph nodes whose activations have no range from the portable graph (left in fp32)."""
    by_name = {n.name: n for n in graph.graph.node}
    return {name for name, indices in quantized_inputs(graph, config).items()
            if any(by_name[name].input[i] not in observers for i in indices)}


QUANTIZED_SCALE_KEYS = ("q", "k", "v")
"""The head-scale keys of the plugin inputs 0, 1, 2: their int8 values come from the graph's Q/DQ."""


def attach_head_scales(graph: onnx.ModelProto, sites: dict[str, dict]) -> None:
    """Per-head scale attributes on the plugin nodes of ops that take them, matched to the sites' op calls in
    execution order (a site calling its op once per head gives each node its own head). Calls of an op the
    graph decomposes (no TensorRT plugin: no node of its type) are skipped.

    TensorRT hands the plugin q, k and v as the int8 values of the QuantizeLinear feeding each input
    (Q -> DQ -> plugin fuses to Q -> plugin), so `int8_q/k/v_scales` are that Q's scale, one value per head;
    the calibrated per-head scales give only p and o. A node none of whose inputs is quantized (left fp32)
    gets no INT8 attributes."""
    takes_scales = {o.name for o in all_ops() if o.int8 is not None and o.int8.head_scales}
    nodes = [n for n in graph.graph.node if n.domain == PLUGIN_DOMAIN and n.op_type in takes_scales]
    emitted = {n.op_type for n in nodes}
    per_node: list[dict[str, list[float]]] = []
    for record in sites.values():
        scales, start = head_scales(record), 0
        for op, count in zip(record["ops_per_call"], record["heads_per_call"], strict=True):
            if op in emitted:
                per_node.append({key: values[start : start + count] for key, values in scales.items()})
            start += count
    if len(per_node) != len(nodes):
        raise EdgeattnError(
            f"{len(nodes)} plugin attention nodes but {len(per_node)} calibrated attention calls",
            "Export the plugin graph from the same rewritten model that was calibrated.",
        )
    quantizers = _input_quantizers(graph)
    for node, scales in zip(nodes, per_node):
        fed = _fed_scales(node, quantizers, len(scales["q"]))
        if not fed:
            continue
        for key, values in sorted({**scales, **fed}.items()):
            node.attribute.append(helper.make_attribute(f"int8_{key}_scales", [float(v) for v in values]))


def _input_quantizers(graph: onnx.ModelProto) -> dict[str, np.ndarray]:
    """Scale of the QuantizeLinear behind each DequantizeLinear output (a Q -> DQ pair), by DQ output name."""
    initializers = {t.name: t for t in graph.graph.initializer}
    producers = {out: node for node in graph.graph.node for out in node.output}
    scales = {}
    for node in graph.graph.node:
        quantize = producers.get(node.input[0]) if node.op_type == "DequantizeLinear" else None
        if quantize is not None and quantize.op_type == "QuantizeLinear" and quantize.input[1] in initializers:
            scales[node.output[0]] = numpy_helper.to_array(initializers[quantize.input[1]])
    return scales


def _fed_scales(node: onnx.NodeProto, quantizers: dict[str, np.ndarray], heads: int) -> dict[str, list[float]]:
    """q, k, v scales of a plugin node from the Q nodes feeding its inputs ({} when none is quantized)."""
    fed = {key: quantizers[name] for key, name in zip(QUANTIZED_SCALE_KEYS, node.input) if name in quantizers}
    if not fed:
        return {}
    if len(fed) != len(QUANTIZED_SCALE_KEYS):
        raise EdgeattnError(
            f"plugin node {node.name!r} has Q/DQ on {sorted(fed)} only; its q, k and v are quantized together",
            "Quantize all three inputs of the node or none (skip_nodes).",
        )
    result = {}
    for key, scale in fed.items():
        if scale.size not in (1, heads):
            raise EdgeattnError(
                f"plugin node {node.name!r}: the Q feeding {key} has {scale.size} scales for {heads} heads",
                "Quantize plugin inputs per tensor (the TensorRT style).",
            )
        result[key] = np.broadcast_to(scale.reshape(-1), (heads,)).astype(np.float32).tolist()
    return result


def _calibration_record(calib: CalibrationConfig, data, results, plan: _Plan, headwise: HeadwiseResult | None,
                        uncalibrated: list[str]) -> dict[str, Any]:
    gate, fallback = plan.gate, plan.fallback
    return {
        "method": calib.method, "granularity": calib.granularity, "style": calib.style,
        "data": data.describe(), "count": data.count,
        "activations": results["portable"].activations,
        "weights": "symmetric int8 per output channel",
        "fp32_islands": plan.islands,
        "heads": headwise.sites if headwise else {},
        "headwise_max_rel_change": headwise.max_rel_change if headwise else None,
        "plugin_nodes_left_fp32": uncalibrated,
        "fallback": None if fallback is None else fallback.to_json() | {
            "plugin_graph_nodes_kept": sorted(plan.plugin_fallback)},
        "cpu_gate": None if gate is None else {"fp32_ms": gate.fp32_ms, "int8_ms": gate.int8_ms,
                                                "speedup": gate.speedup, "trials": gate.trials},
    }
