"""What the INT8 benchmarks (quant_fidelity.py, modelopt_baseline.py) share: the model under test and its
fp32 portable graph, so that every method is scored on the same weights, resolution and ONNX."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from pathlib import Path

import onnx
import torch

from edgeattn.backbones import create_model, get_spec
from edgeattn.backbones.spec import ModelSpec
from edgeattn.backbones.weights import WeightsInfo
from edgeattn.exporters.onnx import export_onnx, save_onnx
from edgeattn.ops import translation_table
from edgeattn.ops.rewrite import rewrite_model


@dataclass
class BenchmarkModel:
    """A registry model with its weights (checkpoint or seeded random init) at a stride-aligned resolution."""

    spec: ModelSpec
    model: torch.nn.Module
    weights: WeightsInfo
    resolution: int

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


def load_benchmark_model(name: str, checkpoints: Path | None, seed: int, resolution: int | None) -> BenchmarkModel | str:
    """The model, or why it is skipped (its `<name>.pth` is missing from `checkpoints`)."""
    spec = get_spec(name)
    checkpoint = checkpoints / f"{name}.pth" if checkpoints else None
    if checkpoint is not None and not checkpoint.is_file():
        return f"no checkpoint {checkpoint}"
    model, weights = create_model(spec, checkpoint=checkpoint, seed=seed)
    size = resolution or spec.resolution
    return BenchmarkModel(spec, model, weights, max(spec.stride, size // spec.stride * spec.stride))
