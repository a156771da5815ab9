"""What the INT8 benchmarks (quant_fidelity.py, modelopt_baseline.py) share: the model under test, its fp32
portable graph, and edgeattn's INT8 graphs built through the export stages, so that every method is scored
on the same weights, resolution and ONNX."""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import onnx
import torch

from edgeattn.backbones import create_model, get_spec
from edgeattn.backbones.spec import ModelSpec
from edgeattn.backbones.weights import WeightsInfo
from edgeattn.calibrate.precision import PrecisionResult
from edgeattn.calibrate.sets import CalibrationConfig
from edgeattn.exporters import stages
from edgeattn.exporters.config import ExportConfig
from edgeattn.exporters.onnx import export_onnx, save_onnx
from edgeattn.exporters.pipeline import plan_export
from edgeattn.ops import translation_table
from edgeattn.ops.rewrite import rewrite_model


@dataclass
class Int8Build:
    """The export stages of one model up to the fp32 graphs, for one head granularity; `precision` adds the
    INT8 graphs and reports of one calibration config (style, method, fallback) on top of them."""

    plan: stages.Plan
    loaded: stages.Loaded
    prepared: stages.Prepared
    graphs: dict[str, onnx.ModelProto] = field(default_factory=dict)

    def precision(self, calib: CalibrationConfig) -> PrecisionResult:
        """INT8 graphs and reports (`fidelity.json`, `calibration.json`) for `calib`."""
        self.plan.calib = calib
        return stages.precision(self.plan, self.loaded, self.prepared, self.graphs, None)

    @property
    def fp32(self) -> onnx.ModelProto:
        return self.graphs["portable"]


@dataclass
class BenchmarkModel:
    """A registry model with its weights (checkpoint or seeded random init) at a stride-aligned resolution
    (None: a voxel model, whose inputs are LiDAR frames)."""

    spec: ModelSpec
    model: torch.nn.Module
    weights: WeightsInfo
    resolution: int | None

    def record(self) -> dict:
        """The fields every result record starts with."""
        return {"model": self.spec.name, "weights": self.weights.model_dump(exclude_none=True),
                "resolution": self.resolution}

    def export_portable(self, path: Path) -> onnx.ModelProto:
        """The edgeattn-rewritten model as a portable fp32 graph (input `image`, output `logits`), saved to `path`."""
        rewritten, _ = rewrite_model(copy.deepcopy(self.model))
        proto = export_onnx(rewritten, (torch.zeros(1, 3, self.resolution, self.resolution),),
                            opset=self.spec.opset, input_names=["image"], output_names=["logits"],
                            translation_table=translation_table("portable"))
        save_onnx(proto, path)
        return proto

    def int8_build(self, calib: CalibrationConfig, model: torch.nn.Module | None = None) -> Int8Build:
        """Stages 2-3 of `edgeattn export --precision int8 --flavour portable` on this model (or on `model`,
        e.g. a rescaled copy), with `calib`'s data and granularity; parity and the bundle are skipped."""
        images = {"resolution": self.resolution} if self.resolution is not None else {}
        config = ExportConfig(model=self.spec.name, target="jetson" if calib.style == "tensorrt" else "cpu-x86",
                              flavour="portable", precision="int8", **images,
                              calib_data=calib.data, calib_granularity=calib.granularity, calib_count=calib.count,
                              seed=calib.seed)
        module = model if model is not None else self.model
        plan = plan_export(config, module)
        plan.calib = calib
        plan.inputs.prepare(module)
        loaded = stages.Loaded(module.eval(), self.weights, {}, {})  # no parity cases: fidelity compares to torch
        prepared = stages.rewrite(plan, loaded)
        return Int8Build(plan, loaded, prepared, stages.export(plan, prepared))


def calibration(granularity: str, style: str, settings: Any, **extra: Any) -> CalibrationConfig:
    """The precision stage's config from the benchmark's command line settings (data: the bundled photos
    unless `extra` names another source, e.g. data="lidar")."""
    return CalibrationConfig(**{"data": "samples", "method": settings.method, "granularity": granularity,
                                "style": style, "count": settings.calib_count, "eval_count": settings.eval_count,
                                "batch_size": 8, "seed": settings.seed, **extra})


def load_benchmark_model(name: str, checkpoints: Path | None, seed: int, resolution: int | None) -> BenchmarkModel | str:
    """The model, or why it is skipped (its `<name>.pth` is missing from `checkpoints`)."""
    spec = get_spec(name)
    checkpoint = checkpoints / f"{name}.pth" if checkpoints else None
    if checkpoint is not None and not checkpoint.is_file():
        return f"no checkpoint {checkpoint}"
    model, weights = create_model(spec, checkpoint=checkpoint, seed=seed)
    if spec.input_kind == "voxels":
        return BenchmarkModel(spec, model, weights, None)
    size = resolution or spec.resolution
    return BenchmarkModel(spec, model, weights, max(spec.stride, size // spec.stride * spec.stride))
