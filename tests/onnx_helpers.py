"""Test helpers: export a module in one ONNX flavour (through edgeattn's one export wrapper) and run it
without TensorRT (portable on ONNX Runtime, plugins on onnx.reference with the edgeattn reference ops)."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from edgeattn.exporters.onnx import export_onnx
from edgeattn.ops import translation_table
from edgeattn.runners.ort import OrtRunner
from edgeattn.runners.reference import ReferenceRunner


def export_flavour(model: nn.Module, args: Sequence[torch.Tensor], flavour: str, opset: int = 18,
                   dynamic_shapes: Any = None, deployable: bool = False) -> onnx.ModelProto:
    """`model(*args)` exported in `flavour`; inputs are named input_0, input_1, ... (`deployable`: as the
    exporter's plugin graphs, ops without a TensorRT plugin decomposed)."""
    outputs = model(*args)
    count = len(outputs) if isinstance(outputs, (tuple, list)) else 1
    return export_onnx(model, tuple(args), opset=opset, input_names=[f"input_{i}" for i in range(len(args))],
                       output_names=[f"output_{i}" for i in range(count)], dynamic_shapes=dynamic_shapes,
                       translation_table=translation_table(flavour, deployable=deployable))


def run_portable(model: onnx.ModelProto, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    with OrtRunner(model, threads=1) as runner:
        return runner.run(list(inputs))


def run_plugins(model: onnx.ModelProto, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    with ReferenceRunner(model) as runner:
        return runner.run(list(inputs))


def run_flavour(model: onnx.ModelProto, flavour: str, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    return run_portable(model, inputs) if flavour == "portable" else run_plugins(model, inputs)
