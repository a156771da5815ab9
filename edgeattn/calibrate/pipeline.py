"""The precision stage of an export: fp16 or INT8 graphs written beside the fp32 ones in a bundle.

`build_precision` is called by the export pipeline after `model.onnx` / `model.plugins.onnx` exist:
- fp16: `model.fp16.onnx`, `model.plugins.fp16.onnx` (fp32 islands, explicit Casts) + `fidelity.json`;
- int8: head-wise statistics and exact reparameterisation (granularity "head"), re-export, range
  calibration in ORT, Q/DQ emission (TensorRT or ORT x86 style), optional CPU latency gate, per-head
  scale attributes on plugin attention nodes; `model.int8.onnx`, `model.plugins.int8.onnx`,
  `calibration.json`, `fidelity.json`.

Plugin attention nodes carry their per-head INT8 scales as FLOATS attributes (`int8_q_scales`,
`int8_k_scales`, `int8_v_scales`, `int8_p_scales`, `int8_o_scales`, one value per head, amax / 127);
the TensorRT ONNX parser passes FLOAT lists to plugin creators as kFLOAT32 fields of that length.
"""

from __future__ import annotations

import contextlib
import copy
from dataclasses import replace
from pathlib import Path
from typing import Any, Literal

import numpy as np
import onnx
import torch
from onnx import helper
from pydantic import BaseModel, ConfigDict, Field, model_validator
from torch import nn

from edgeattn.backbones.spec import ModelSpec
from edgeattn.calibrate.attention_sites import find_sites
from edgeattn.calibrate.cpu_gate import select_regions
from edgeattn.calibrate.data import (
    SAMPLES,
    CalibrationData,
    load_calibration_data,
    sample_photos,
)
from edgeattn.calibrate.fidelity import evaluate
from edgeattn.calibrate.headwise import head_scales, reparameterise
from edgeattn.calibrate.islands import (
    PLUGIN_DOMAIN,
    ensure_node_names,
    find_islands,
    rules_from_hints,
)
from edgeattn.calibrate.observers import Method
from edgeattn.calibrate.qdq import (
    QDQ_SEMANTICS,
    QDQConfig,
    Style,
    activation_tensors,
    collect_ranges,
    insert_qdq,
)
from edgeattn.calibrate.sensitivity import matching_nodes, select_fallback
from edgeattn.errors import EdgeattnError, UsageError
from edgeattn.exporters.bundle import write_json
from edgeattn.exporters.precision import IODtype, convert_fp16

Precision = Literal["fp16", "int8"]
FP32_FILES = {"portable": "model.onnx", "plugins": "model.plugins.onnx"}
ATTENTION_PLUGINS = ("SingleHeadAttention", "MultiHeadAttention", "ReLULinearAttention")
SENSITIVITY_INPUTS = 16
"""Calibration inputs the sensitivity ranking runs on (one ORT run per quantized node per input)."""
HEADWISE_MAX_REL = 1e-4
"""Reparameterised vs original model in torch fp32 (max abs / max |ref|); exact maths, fp32 rounding only."""


class CalibrationConfig(BaseModel):
    """How reduced-precision graphs are built (the `--calib-*` options of `edgeattn export`)."""

    model_config = ConfigDict(frozen=True)

    data: str | None = Field(None, description="image folder, .npy/.npz file or folder, 'samples' or 'lidar'")
    method: Method = "percentile"
    granularity: Literal["head", "tensor"] = "head"
    count: int = Field(32, ge=1)
    batch_size: int = Field(8, ge=1)
    eval_count: int = Field(16, ge=1, description="held-out inputs for fidelity ('samples' only)")
    percentile: float = 99.99
    style: Style = "tensorrt"
    cpu_gate: bool = Field(False, description="keep fp32 wherever INT8 is slower in ORT CPU (ORT style)")
    io_dtype: IODtype = "fp32"
    v_strength: float = Field(0.5, ge=0.0, le=1.0)
    min_cosine: float | None = Field(
        None, gt=0.0, lt=1.0,
        description="keep the most sensitive quantized nodes in higher precision until logit cosine vs fp32 "
                    "on the calibration inputs reaches this (sensitivity-guided fallback)")
    seed: int = 0
    threads: int = 2

    @model_validator(mode="after")
    def _gate_needs_ort_style(self) -> CalibrationConfig:
        if self.cpu_gate and self.style != "ort":
            raise UsageError("the CPU latency gate measures ORT CPU kernels", "Use it with style 'ort' (cpu-x86 targets).")
        return self


def precision_steps(precision: Precision, fallback: bool = False) -> list[str]:
    """Progress step names `build_precision` reports, for a caller's step list."""
    if precision == "fp16":
        return ["fp16: convert graphs", "fp16: fidelity"]
    return ["int8: load calibration data", "int8: head-wise statistics", "int8: export calibrated graphs",
            "int8: calibrate ranges", *(["int8: sensitivity fallback"] if fallback else []), "int8: emit Q/DQ",
            "int8: fidelity"]


def build_precision(
    bundle_dir: Path,
    spec: ModelSpec,
    model: nn.Module,
    precision: Precision,
    calib: CalibrationConfig,
    progress: Any = None,
) -> dict[str, Any]:
    """Write the `precision` graphs and reports into `bundle_dir`; return the manifest entries.

    `model` is the fp32 torch model the bundle's graphs came from (timm original or edgeattn rewrite);
    `progress` is anything with a `step(name)` context manager (e.g. `exporters.progress.Steps`) or None.
    """
    bundle_dir = Path(bundle_dir)
    if spec.input_kind != "image":
        raise EdgeattnError(
            f"reduced precision for {spec.input_kind} models ({spec.name}) is not supported by edgeattn yet",
            "Export voxel models in fp32; the precision stage handles single-image-input graphs only.",
        )
    graphs = _read_graphs(bundle_dir)
    if precision == "fp16":
        return _build_fp16(bundle_dir, spec, graphs, calib, progress)
    if precision == "int8":
        return _build_int8(bundle_dir, spec, model, graphs, calib, progress)
    raise UsageError(f"unknown precision {precision!r}", "Use fp32, fp16 or int8.")


def _step(progress: Any, name: str):
    return progress.step(name) if progress is not None else contextlib.nullcontext()


def _read_graphs(bundle_dir: Path) -> dict[str, onnx.ModelProto]:
    graphs = {f: onnx.load(bundle_dir / name) for f, name in FP32_FILES.items() if (bundle_dir / name).is_file()}
    if "portable" not in graphs:
        raise EdgeattnError(
            f"{bundle_dir / FP32_FILES['portable']} not found",
            "Reduced precision is built from the fp32 portable graph: export it first.",
        )
    return graphs


def _input_info(graph: onnx.ModelProto) -> tuple[str, int | None, int]:
    """(input name, static batch or None, resolution) of an exported image graph."""
    value = graph.graph.input[0]
    dims = value.type.tensor_type.shape.dim
    batch = dims[0].dim_value if dims[0].HasField("dim_value") else None
    return value.name, batch, dims[2].dim_value


def _data_sets(spec: ModelSpec, calib: CalibrationConfig, resolution: int, batch: int | None,
               need_data: bool) -> tuple[CalibrationData, CalibrationData, bool]:
    """(calibration set, evaluation set, evaluation is held out)."""
    batch_size = calib.batch_size if batch is None else max(batch, calib.batch_size // batch * batch)
    source = calib.data
    if source is None:
        if need_data:
            raise UsageError(
                "INT8 needs calibration data and none was given",
                "Pass --calib-data DIR (photos from the deployment domain), FILE.npz, or 'samples' for a demo.",
            )
        source = SAMPLES
    data = _fit_static_batch(load_calibration_data(source, spec, calib.count, batch_size, resolution, calib.seed), batch)
    if source == SAMPLES:
        held_out = sample_photos(spec, calib.eval_count, batch_size, resolution, seed=calib.seed + 1000)
        return data, _fit_static_batch(held_out, batch), True
    return data, data, False


def _fit_static_batch(data: CalibrationData, batch: int | None) -> CalibrationData:
    """Re-split inputs into whole batches of a static-batch graph (the remainder is dropped)."""
    if not batch or batch == 1:
        return data
    inputs = np.concatenate(data.batches)
    usable = len(inputs) // batch * batch
    if usable == 0:
        raise UsageError(
            f"{len(inputs)} calibration inputs cannot fill one batch of {batch} (static batch graph)",
            f"Pass at least {batch} inputs (--calib-count) or export with --dynamic-batch.",
        )
    batches = [inputs[i : i + batch] for i in range(0, usable, batch)]
    return CalibrationData(batches, data.source, data.kind, data.files, data.labels)


def _build_fp16(bundle_dir: Path, spec: ModelSpec, graphs: dict[str, onnx.ModelProto],
                calib: CalibrationConfig, progress: Any) -> dict[str, Any]:
    rules = rules_from_hints(spec.fp32_sensitive)
    files, islands = [], {}
    with _step(progress, "fp16: convert graphs"):
        converted = {}
        for flavour, graph in graphs.items():
            result = convert_fp16(graph, rules, calib.io_dtype)
            name = FP32_FILES[flavour].replace(".onnx", ".fp16.onnx")
            _save(result.model, bundle_dir / name)
            files.append(name)
            converted[flavour] = result.model
            islands[flavour] = {"count": len(result.islands), "casts": result.casts,
                                "by_reason": _count(result.islands.values()),
                                "clipped_initializers": result.clipped_initializers}
    with _step(progress, "fp16: fidelity"):
        _, batch, resolution = _input_info(graphs["portable"])
        _, eval_data, held_out = _data_sets(spec, calib, resolution, batch, need_data=False)
        report = evaluate(graphs["portable"], converted["portable"], eval_data.batches, "fp16", threads=calib.threads)
        fidelity = {"fp16": report.to_json(), "data": eval_data.describe(), "held_out": held_out,
                    "runtime": "onnxruntime CPU (fp16 nodes without CPU kernels run through ORT-inserted casts)"}
        write_json(bundle_dir / "fidelity.json", fidelity)
    files.append("fidelity.json")
    return {"precision": "fp16", "files": files, "io_dtype": calib.io_dtype, "fp32_islands": islands,
            "fidelity": _summary(report)}


def _build_int8(bundle_dir: Path, spec: ModelSpec, model: nn.Module, graphs: dict[str, onnx.ModelProto],
                calib: CalibrationConfig, progress: Any) -> dict[str, Any]:
    input_name, batch, resolution = _input_info(graphs["portable"])
    with _step(progress, "int8: load calibration data"):
        data, eval_data, held_out = _data_sets(spec, calib, resolution, batch, need_data=True)
    with _step(progress, "int8: head-wise statistics"):
        model = model.eval()
        headwise = None
        if calib.granularity == "head" and find_sites(model):
            headwise = reparameterise(model, data.batches, calib.v_strength)
            if headwise.max_rel_change > HEADWISE_MAX_REL:
                raise EdgeattnError(
                    f"head-wise reparameterisation changed fp32 outputs by {headwise.max_rel_change:.2e} (relative)",
                    "Report this as a bug; use --calib-granularity tensor meanwhile.",
                )
    with _step(progress, "int8: export calibrated graphs"):
        calibrated = _export_like(headwise.model, graphs) if headwise is not None else graphs
        for graph in calibrated.values():
            ensure_node_names(graph)
    rules = rules_from_hints(spec.fp32_sensitive)
    islands = {f: find_islands(g, rules) for f, g in calibrated.items()}
    configs = {f: QDQConfig(calib.style, calib.method, calib.percentile, skip_nodes=frozenset(islands[f]))
               for f in calibrated}
    with _step(progress, "int8: calibrate ranges"):
        portable = calibrated["portable"]
        portable_names = {out for node in portable.graph.node for out in node.output} | {input_name}
        tensors = activation_tensors(portable, configs["portable"])
        if "plugins" in calibrated:
            tensors += [t for t in activation_tensors(calibrated["plugins"], configs["plugins"])
                        if t in portable_names and t not in tensors]
        observers = collect_ranges(portable, data.batches, tensors, configs["portable"], calib.threads)
    fallback, plugin_fallback = None, frozenset()
    if calib.min_cosine is not None:
        with _step(progress, "int8: sensitivity fallback"):
            inputs = _first_batches(data.batches, SENSITIVITY_INPUTS)
            fallback = select_fallback(portable, observers, configs["portable"], inputs, calib.min_cosine,
                                       calib.threads)
            configs["portable"] = replace(configs["portable"], skip_nodes=fallback.skip_nodes)
            if "plugins" in calibrated:
                plugin_fallback = matching_nodes(portable, calibrated["plugins"], fallback.kept)
                configs["plugins"] = replace(configs["plugins"],
                                             skip_nodes=configs["plugins"].skip_nodes | plugin_fallback)
    gate = None
    with _step(progress, "int8: emit Q/DQ"):
        if calib.cpu_gate:
            sample = eval_data.batches[0][: batch or 1].astype(np.float32)
            gate = select_regions(portable, configs["portable"],
                                  lambda cfg: insert_qdq(portable, observers, cfg).model, sample, calib.threads)
            configs["portable"] = replace(configs["portable"], skip_nodes=gate.skip_nodes)
        results, uncalibrated = {}, []
        for flavour, graph in calibrated.items():
            config = configs[flavour]
            if flavour == "plugins":
                missing = _uncalibrated_nodes(graph, config, observers)
                uncalibrated = sorted(missing)
                config = replace(config, skip_nodes=config.skip_nodes | frozenset(missing))
            results[flavour] = insert_qdq(graph, observers, config)
        if "plugins" in results and headwise is not None:
            _attach_head_scales(results["plugins"].model, headwise.sites)
        files = []
        for flavour, result in results.items():
            name = FP32_FILES[flavour].replace(".onnx", ".int8.onnx")
            _save(result.model, bundle_dir / name)
            files.append(name)
    with _step(progress, "int8: fidelity"):
        report = evaluate(portable, results["portable"].model, eval_data.batches, f"int8-{calib.granularity}",
                          qdq=QDQ_SEMANTICS[calib.style], threads=calib.threads)
        fidelity = {"int8": report.to_json(), "data": eval_data.describe(), "held_out": held_out,
                    "qdq": QDQ_SEMANTICS[calib.style],
                    "reference": "fp32 portable graph of the same (reparameterised) weights, ORT CPU",
                    "headwise_max_rel_change": headwise.max_rel_change if headwise else None}
        write_json(bundle_dir / "fidelity.json", fidelity)
    calibration = {
        "method": calib.method, "granularity": calib.granularity, "style": calib.style,
        "data": data.describe(), "count": data.count,
        "activations": results["portable"].activations,
        "weights": "symmetric int8 per output channel",
        "fp32_islands": {f: islands[f] for f in islands},
        "heads": headwise.sites if headwise else {},
        "headwise_max_rel_change": headwise.max_rel_change if headwise else None,
        "plugin_nodes_left_fp32": uncalibrated,
        "fallback": None if fallback is None else fallback.to_json() | {
            "plugin_graph_nodes_kept": sorted(plugin_fallback)},
        "cpu_gate": None if gate is None else {"fp32_ms": gate.fp32_ms, "int8_ms": gate.int8_ms,
                                                "speedup": gate.speedup, "trials": gate.trials},
    }
    write_json(bundle_dir / "calibration.json", calibration)
    files += ["calibration.json", "fidelity.json"]
    return {"precision": "int8", "files": files, "calibration": {
        "method": calib.method, "granularity": calib.granularity, "style": calib.style,
        "data": data.source, "count": data.count,
        "fallback_nodes": None if fallback is None else len(fallback.kept)},
        "fidelity": _summary(report)}


def _first_batches(batches: list[np.ndarray], count: int) -> list[np.ndarray]:
    """Whole batches from the start until at least `count` inputs (all of them if fewer)."""
    chosen, total = [], 0
    for batch in batches:
        if total >= count:
            break
        chosen.append(batch)
        total += len(batch)
    return chosen


def _export_like(model: nn.Module, graphs: dict[str, onnx.ModelProto]) -> dict[str, onnx.ModelProto]:
    """Export `model` with the settings of the bundle's fp32 graphs (names, batch, opset, op flavour)."""
    from edgeattn.exporters.onnx import export_onnx
    from edgeattn.ops import translation_table
    from edgeattn.ops.rewrite import rewrite_model

    if not any(type(m).__name__.startswith("Edge") for m in model.modules()):
        model, _ = rewrite_model(copy.deepcopy(model))
    out = {}
    for flavour, graph in graphs.items():
        input_name, batch, resolution = _input_info(graph)
        opset = next(i.version for i in graph.opset_import if i.domain in ("", "ai.onnx"))
        out[flavour] = export_onnx(
            model, (torch.zeros(batch or 1, 3, resolution, resolution),), opset=opset,
            input_names=[input_name], output_names=[o.name for o in graph.graph.output],
            dynamic_batch=batch is None, translation_table=translation_table(flavour),
            metadata={p.key: p.value for p in graph.metadata_props},
        )
    return out


def _uncalibrated_nodes(graph: onnx.ModelProto, config: QDQConfig, observers: dict) -> set[str]:
    """Plugin-graph nodes whose activations have no range from the portable graph (left in fp32)."""
    from edgeattn.calibrate.qdq import quantized_inputs

    by_name = {n.name: n for n in graph.graph.node}
    return {name for name, indices in quantized_inputs(graph, config).items()
            if any(by_name[name].input[i] not in observers for i in indices)}


def _attach_head_scales(graph: onnx.ModelProto, sites: dict[str, dict]) -> None:
    """Per-head scale attributes on plugin attention nodes, matched to attention sites in graph order."""
    nodes = [n for n in graph.graph.node if n.domain == PLUGIN_DOMAIN and n.op_type in ATTENTION_PLUGINS]
    per_node: list[dict[str, list[float]]] = []
    for record in sites.values():
        scales = head_scales(record)
        if record["module"] in ("CascadedGroupAttention", "EdgeCascadedGroupAttention"):
            per_node += [{k: [v[h]] for k, v in scales.items()} for h in range(record["heads"])]
        else:
            per_node.append(scales)
    if len(per_node) != len(nodes):
        raise EdgeattnError(
            f"{len(nodes)} plugin attention nodes but {len(per_node)} calibrated attention heads groups",
            "Export the plugin graph from the same rewritten model that was calibrated.",
        )
    for node, scales in zip(nodes, per_node):
        for key, values in sorted(scales.items()):
            node.attribute.append(helper.make_attribute(f"int8_{key}_scales", [float(v) for v in values]))


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def _summary(report) -> dict[str, float]:
    return {"top1_agreement": report.top1_agreement, "cosine": report.cosine, "sqnr_db": report.sqnr_db,
            "kl": report.kl, "count": report.count}


def _save(model: onnx.ModelProto, path: Path) -> None:
    path.write_bytes(model.SerializeToString(deterministic=True))
