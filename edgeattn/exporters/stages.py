"""The numbered stages of every export. Each takes the previous stage's artifact in memory and returns its own:

1. load      -> Loaded     (torch model, weights, parity inputs and torch's outputs on them)
2. rewrite   -> Prepared   (edgeattn ops swapped in, BatchNorm fused; INT8: calibration data, head-wise weights)
3. export    -> graphs     (one fp32 ONNX graph per flavour, in memory; ops without a TensorRT plugin are
                           decomposed in the plugins graph too)
4. check     -> Checked    (parity of every graph against torch, TensorRT lint)
5. precision -> PrecisionResult (fp16 / INT8 graphs with fidelity against torch; `edgeattn.calibrate`)
The pipeline (`exporters.pipeline`) writes the bundle from these artifacts.
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from edgeattn.backbones import ModelSpec, WeightsInfo, create_model
from edgeattn.backbones.weights import module_weights
from edgeattn.bundle_files import graph_file
from edgeattn.calibrate.headwise import HeadwiseResult
from edgeattn.calibrate.sets import CalibrationConfig, CalibrationSets
from edgeattn.errors import EdgeattnError, ParityError
from edgeattn.exporters.config import ExportConfig
from edgeattn.exporters.inputs import ExportInputs
from edgeattn.exporters.onnx import export_onnx
from edgeattn.exporters.parity import ParityReport, check_parity, torch_outputs
from edgeattn.exporters.targets import TargetProfile
from edgeattn.exporters.trt_lint import LintReport, lint
from edgeattn.ops import translation_table
from edgeattn.ops.rewrite import ops_in, rewrite_model
from edgeattn.runners.ort import OrtRunner
from edgeattn.runners.reference import ReferenceRunner

FLAVOUR_CHOICES = {"portable": ("portable",), "plugins": ("plugins",), "both": ("portable", "plugins")}
HEADWISE_MAX_REL = 1e-4
"""Reparameterised vs original model in torch fp32 (max abs / max |ref|); exact maths, fp32 rounding only."""


@dataclass
class Plan:
    """Everything decided before any model work (stage 0)."""

    config: ExportConfig
    spec: ModelSpec
    target: TargetProfile
    out: Path
    inputs: ExportInputs
    flavours: tuple[str, ...]
    """Flavours written to the bundle."""
    calib: CalibrationConfig | None
    """Reduced-precision settings (None for fp32)."""
    model: nn.Module | None = None
    """A model given in memory instead of building `spec` with the config's weights."""

    @property
    def built_flavours(self) -> tuple[str, ...]:
        """Flavours exported: the precision stage calibrates on the portable graph even when only plugins ship."""
        return ("portable", *self.flavours) if self.calib and "portable" not in self.flavours else self.flavours

    @property
    def trt_versions(self) -> list[str]:
        return [line.version for line in self.target.tensorrt]


@dataclass
class Loaded:
    model: nn.Module
    weights: WeightsInfo
    cases: dict[str, tuple[torch.Tensor, ...]]
    reference: dict[str, list[np.ndarray]]


@dataclass
class Prepared:
    module: nn.Module
    """The exported module: rewritten, BatchNorm fused, head-wise reparameterised for INT8."""
    swaps: list[str]
    ops: list[str] = field(default_factory=list)
    """The edgeattn ops the rewrite swapped in (by name)."""
    headwise: HeadwiseResult | None = None
    sets: CalibrationSets | None = None


@dataclass
class Checked:
    parity: list[ParityReport]
    lint: dict[str, LintReport] = field(default_factory=dict)


def load(plan: Plan) -> Loaded:
    """Stage 1: the model with its weights, the parity inputs and torch's outputs on them."""
    if plan.model is not None:
        model, weights = plan.model.eval(), module_weights(plan.model)
    else:
        model, weights = create_model(plan.spec, plan.config.checkpoint, plan.config.pretrained, plan.config.seed)
    plan.inputs.prepare(model)
    cases = plan.inputs.parity_cases()
    exported = plan.inputs.exported(model)
    return Loaded(model, weights, cases, {label: torch_outputs(exported, inputs) for label, inputs in cases.items()})


def rewrite(plan: Plan, loaded: Loaded) -> Prepared:
    """Stage 2: swap in the edgeattn ops and fuse BatchNorm (timm reparameterize); for reduced precision,
    load the calibration sets and, for head-wise INT8, rebalance the attention weights per head."""
    from timm.utils import reparameterize_model

    exported = plan.inputs.exported(loaded.model)
    module, swaps = rewrite_model(copy.deepcopy(exported))
    prepared = Prepared(reparameterize_model(module, inplace=True), swaps, ops_in(exported))
    if plan.calib is not None:
        prepared.sets = _calibration_sets(plan)
        if plan.config.precision == "int8" and plan.calib.granularity == "head":
            prepared.headwise = _headwise(prepared.module, prepared.sets, plan.calib)
            if prepared.headwise is not None:
                prepared.module = prepared.headwise.model
    return prepared


def _calibration_sets(plan: Plan) -> CalibrationSets:
    from edgeattn.calibrate.sets import load_sets

    batch = None if plan.config.dynamic_batch else plan.config.batch
    sets = load_sets(plan.spec, plan.calib, plan.inputs.resolution, batch, need_data=plan.config.precision == "int8")
    return plan.inputs.graph_sets(sets)


def _headwise(module: nn.Module, sets: CalibrationSets, calib: CalibrationConfig) -> HeadwiseResult | None:
    from edgeattn.calibrate.capture import find_sites
    from edgeattn.calibrate.headwise import reparameterise

    if not find_sites(module):
        return None
    result = reparameterise(module, sets.calibration.batches, calib.v_strength)
    if result.max_rel_change > HEADWISE_MAX_REL:
        raise EdgeattnError(
            f"head-wise reparameterisation changed fp32 outputs by {result.max_rel_change:.2e} (relative)",
            "Report this as a bug; use --calib-granularity tensor meanwhile.")
    return result


def export(plan: Plan, prepared: Prepared) -> dict[str, onnx.ModelProto]:
    """Stage 3: one fp32 graph per flavour, exported from the prepared module."""
    inputs, graphs = plan.inputs, {}
    for flavour in plan.built_flavours:
        graphs[flavour] = export_onnx(
            prepared.module, inputs.example(), opset=plan.config.opset or plan.spec.opset,
            input_names=inputs.input_names, output_names=inputs.output_names,
            dynamic_shapes=inputs.dynamic_shapes(), translation_table=translation_table(flavour, deployable=True),
            metadata={"edgeattn.model": plan.spec.name, "edgeattn.flavour": flavour})
    return graphs


def parity(plan: Plan, loaded: Loaded, flavour: str, graph: onnx.ModelProto) -> ParityReport:
    """Stage 4a: one graph against torch on every parity case (portable on ORT, plugins on onnx.reference)."""
    runner = OrtRunner(graph, threads=2) if flavour == "portable" else ReferenceRunner(graph)
    report = check_parity(graph_file(flavour), runner, loaded.reference, loaded.cases, plan.inputs.output_names)
    if not report.passed:
        worst = report.worst()
        raise ParityError(f"{report.graph} differs from torch on {report.runtime}: max abs {worst.max_abs:.3g} "
                          f"(allowed {worst.atol:.3g}), cosine {worst.cosine:.6f}",
                          "Nothing was written. Report the model name and flags; try another --opset meanwhile.")
    return report


def lint_graphs(plan: Plan, graphs: dict[str, onnx.ModelProto]) -> dict[str, LintReport]:
    """Stage 4b: every graph against the ONNX-TensorRT parser's support list of the target's TensorRT lines."""
    reports = {key: lint(graph, plan.trt_versions) for key, graph in graphs.items()}
    require_parsable(reports, allow_unsupported=plan.config.allow_unsupported)
    return reports


def require_parsable(reports: dict[str, LintReport], allow_unsupported: bool) -> None:
    """Refuse lint errors (nodes TensorRT cannot parse) unless the user allowed them."""
    errors = [(key, f) for key, r in reports.items() for f in r.errors]
    if errors and not allow_unsupported:
        key, first = errors[0]
        raise EdgeattnError(
            f"{len(errors)} node(s) TensorRT cannot parse, e.g. {first.node} ({first.op}) in the {key} graph: "
            f"{first.reason}",
            "Nothing was written. Pass --allow-unsupported to write the bundle anyway (trt_lint.json lists all).")


def precision(plan: Plan, loaded: Loaded, prepared: Prepared, graphs: dict[str, onnx.ModelProto], progress: Any):
    """Stage 5: fp16 or INT8 graphs with their fidelity against the fp32 torch model."""
    from edgeattn.calibrate.frames import Batch, torch_inputs
    from edgeattn.calibrate.precision import build_precision

    exported = plan.inputs.exported(loaded.model)

    def torch_reference(batch: Batch) -> np.ndarray:
        return torch_outputs(exported, torch_inputs(batch))[0]

    return build_precision(plan.config.precision, graphs, plan.spec, plan.calib, prepared.sets, torch_reference,
                           prepared.headwise, progress)
