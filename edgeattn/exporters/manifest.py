"""The bundle's manifest.json: what is inside, where it came from, and how it was checked."""

from __future__ import annotations

import platform
from typing import Any

import edgeattn
from edgeattn.bundle_files import BUNDLE_FORMAT
from edgeattn.backbones import ModelSpec, WeightsInfo
from edgeattn.exporters.config import ExportConfig
from edgeattn.exporters.parity import ParityReport
from edgeattn.exporters.targets import TargetProfile

FORMAT = BUNDLE_FORMAT


def tool_versions() -> dict[str, str]:
    import numpy
    import onnx
    import onnxruntime
    import onnxscript
    import timm
    import torch

    return {
        "edgeattn": edgeattn.__version__, "python": platform.python_version(), "torch": torch.__version__,
        "timm": timm.__version__, "onnx": onnx.__version__, "onnxruntime": onnxruntime.__version__,
        "onnxscript": onnxscript.__version__, "numpy": numpy.__version__,
    }


def parity_entries(parity: list[ParityReport]) -> list[dict[str, Any]]:
    return [{"graph": p.graph, "runtime": p.runtime, "passed": p.passed, "worst_max_abs": p.worst().max_abs,
             "min_cosine": min(o.cosine for c in p.cases for o in c.outputs)} for p in parity]


def build_manifest(config: ExportConfig, spec: ModelSpec, target: TargetProfile, weights: WeightsInfo,
                   input_entry: dict[str, Any], output_names: list[str], parity: list[ParityReport],
                   files: list[dict[str, Any]], **sections: Any) -> dict[str, Any]:
    """Every manifest field; `sections` adds the export's own (ops, rewrites, precision, trt_lint, ...)."""
    return {
        "format": FORMAT,
        "model": {"name": spec.name, "family": spec.family, "source": spec.source, "timm_name": spec.timm_name},
        "weights": weights.model_dump(exclude_none=True),
        "input": input_entry,
        "outputs": [{"name": name, "dtype": "float32"} for name in output_names],
        "opset": config.opset or spec.opset,
        "deploy_hints": {"fp32_sensitive": list(spec.fp32_sensitive), "dynamic_axes": list(spec.dynamic_axes)},
        "target": target.model_dump(mode="json"),
        "parity": parity_entries(parity),
        "files": files,
        "tools": tool_versions(),
        "command": config.command or f"edgeattn.export({config.model_dump(mode='json', exclude_defaults=True)})",
        **sections,
    }
