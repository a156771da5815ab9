"""The precision stage of an export: fp16 or INT8 graphs built in memory from the fp32 graphs.

- fp16: `model[.plugins].fp16.onnx` (fp32 islands, explicit Casts) + `fidelity.json`;
- int8: range calibration in ORT on the portable graph, optional sensitivity fallback and CPU latency gate,
  Q/DQ emission (TensorRT or ORT x86 style), per-head scale attributes on plugin attention nodes;
  `model[.plugins].int8.onnx`, `calibration.json`, `fidelity.json`.
The head-wise reparameterisation happens earlier, on the torch model, before the fp32 graphs are exported
(`edgeattn.calibrate.headwise`): the graphs here already carry the rebalanced weights.

Every graph gets a fidelity record against the fp32 torch model: the portable graphs on ONNX Runtime over
the evaluation set, the plugin graphs on `onnx.reference` (edgeattn ops from their references) over its
first inputs. Plugin attention nodes carry their per-head INT8 scales as FLOATS attributes
(`int8_{q,k,v,p,o}_scales`, one value per head, amax / 127).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any, Literal

import numpy as np
import onnx

from edgeattn.backbones.spec import ModelSpec
from edgeattn.bundle_files import graph_file
from edgeattn.calibrate.fidelity import OutputKind, evaluate, output_metrics
from edgeattn.calibrate.fp16 import convert_fp16
from edgeattn.calibrate.frames import Batch, Frame
from edgeattn.calibrate.headwise import HeadwiseResult
from edgeattn.calibrate.islands import rules_from_hints
from edgeattn.calibrate.sets import CalibrationConfig, CalibrationSets

Precision = Literal["fp16", "int8"]
PLUGIN_FIDELITY_INPUTS = 2
"""Inputs the plugin graphs' fidelity runs on (`onnx.reference` is slow)."""
TorchReference = Callable[[Batch], np.ndarray]


@dataclass
class PrecisionResult:
    """What the stage adds to a bundle: graphs and JSON reports by file name, and the manifest entry."""

    graphs: dict[str, onnx.ModelProto] = field(default_factory=dict)
    reports: dict[str, Any] = field(default_factory=dict)
    manifest: dict[str, Any] = field(default_factory=dict)


def precision_steps(precision: str, fallback: bool = False) -> list[str]:
    """Progress step names of the stage, for the caller's step list ([] for fp32)."""
    if precision == "fp16":
        return ["fp16: convert graphs", "fp16: fidelity"]
    if precision == "int8":
        return ["int8: calibrate ranges", *(["int8: sensitivity fallback"] if fallback else []), "int8: emit Q/DQ",
                "int8: fidelity"]
    return []


def step(progress: Any, name: str):
    return progress.step(name) if progress is not None else contextlib.nullcontext()


def build_fp16(graphs: dict[str, onnx.ModelProto], spec: ModelSpec, calib: CalibrationConfig,
               sets: CalibrationSets, torch_reference: TorchReference, progress: Any = None) -> PrecisionResult:
    """fp16 copies of every flavour with fp32 islands, and their fidelity against torch."""
    rules = rules_from_hints(spec.fp32_sensitive)
    result, islands = PrecisionResult(), {}
    with step(progress, "fp16: convert graphs"):
        for flavour, graph in graphs.items():
            converted = convert_fp16(graph, rules, calib.io_dtype)
            result.graphs[graph_file(flavour, "fp16")] = converted.model
            islands[flavour] = {"count": len(converted.islands), "casts": converted.casts,
                                "by_reason": _count(converted.islands.values()),
                                "clipped_initializers": converted.clipped_initializers}
    with step(progress, "fp16: fidelity"):
        report = evaluate(graphs["portable"], result.graphs[graph_file("portable", "fp16")],
                          sets.evaluation.batches, "fp16", threads=calib.threads, torch_reference=torch_reference,
                          outputs=output_kind(spec))
        fidelity = {"fp16": report.to_json(), "data": sets.evaluation.describe(), "held_out": sets.held_out,
                    "reference": "fp32 torch model",
                    "runtime": "onnxruntime CPU (fp16 nodes without CPU kernels run through ORT-inserted casts)",
                    **plugin_fidelity(result.graphs, "fp16", sets, torch_reference, output_kind(spec))}
    result.reports["fidelity.json"] = fidelity
    result.manifest = {"precision": "fp16", "io_dtype": calib.io_dtype, "fp32_islands": islands,
                       "fidelity": summary(report)}
    return result


def plugin_fidelity(graphs: dict[str, onnx.ModelProto], precision: str, sets: CalibrationSets,
                    torch_reference: TorchReference, outputs: OutputKind = "logits") -> dict[str, Any]:
    """Fidelity of the plugin flavour's `precision` graph on `onnx.reference`, against torch."""
    name = graph_file("plugins", precision)
    if name not in graphs:
        return {}
    from edgeattn.runners.reference import ReferenceRunner

    with ReferenceRunner(graphs[name]) as runner:
        samples = _plugin_samples(sets.evaluation.batches, graphs[name])
        got = np.concatenate([runner.infer(feeds)[runner.output_names[0]] for feeds, _ in samples])
        label = runner.label
    reference = np.concatenate([torch_reference(sample) for _, sample in samples])
    metrics = output_metrics(outputs, reference, got)
    return {"plugins": {**metrics, "count": len(samples), "runtime": label}}


def _plugin_samples(batches: list[Batch], graph: onnx.ModelProto) -> list[tuple[dict, Batch]]:
    """(feeds, torch input) of the first PLUGIN_FIDELITY_INPUTS evaluation inputs (whole static batches)."""
    if isinstance(batches[0], Frame):
        return [(frame.feeds, frame) for frame in batches[:PLUGIN_FIDELITY_INPUTS]]
    dim = graph.graph.input[0].type.tensor_type.shape.dim[0]
    size = dim.dim_value if dim.HasField("dim_value") else 1
    inputs = np.concatenate(batches)[: max(PLUGIN_FIDELITY_INPUTS, size)]
    chunks = [inputs[i : i + size] for i in range(0, len(inputs) - size + 1, size)]
    return [({graph.graph.input[0].name: chunk}, chunk) for chunk in chunks]


def output_kind(spec: ModelSpec) -> OutputKind:
    """What the graph outputs: class logits, or backbone features (LiDAR stacks)."""
    return "features" if spec.input_kind == "voxels" else "logits"


def summary(report) -> dict[str, float]:
    return {"top1_agreement": report.top1_agreement, "cosine": report.cosine, "sqnr_db": report.sqnr_db,
            "kl": report.kl, "count": report.count}


def _count(values) -> dict[str, int]:
    counts: dict[str, int] = {}
    for value in values:
        counts[value] = counts.get(value, 0) + 1
    return dict(sorted(counts.items()))


def build_precision(precision: Precision, graphs: dict[str, onnx.ModelProto], spec: ModelSpec,
                    calib: CalibrationConfig, sets: CalibrationSets, torch_reference: TorchReference,
                    headwise: HeadwiseResult | None = None, progress: Any = None) -> PrecisionResult:
    """The fp16 or INT8 graphs (and reports) of `graphs`, the fp32 graphs of the (reparameterised) model."""
    if precision == "fp16":
        return build_fp16(graphs, spec, calib, sets, torch_reference, progress)
    from edgeattn.calibrate.int8 import build_int8

    return build_int8(graphs, spec, calib, sets, torch_reference, headwise, progress)
