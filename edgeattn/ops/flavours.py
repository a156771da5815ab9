"""Export a rewritten model in one ONNX flavour and run it without TensorRT.

portable: standard ops only, run in ONNX Runtime. plugins: one edgeattn node per op call, run in
`onnx.reference.ReferenceEvaluator` with the edgeattn reference ops.
"""

from __future__ import annotations

import contextlib
import io
import warnings
from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import torch
from torch import nn

from edgeattn.errors import UsageError
from edgeattn.ops.registry import Flavour, translation_table

DEFAULT_OPSET = 18


def export_flavour(
    model: nn.Module, args: Sequence[torch.Tensor], flavour: Flavour,
    opset: int = DEFAULT_OPSET,
    optimize: bool = True,
    dynamic_shapes: Any = None,
) -> onnx.ModelProto:
    """Export `model(*args)` with torch.onnx (dynamo) in `flavour`; returns the ModelProto.

    `optimize` runs the exporter's graph optimizer (constant folding, dead-code removal);
    `dynamic_shapes` is passed to `torch.export` (None: every shape static).
    The exporter's console chatter is silenced; failures propagate.
    """
    table = translation_table(flavour)
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model.eval(),
            tuple(args),
            dynamo=True,
            opset_version=opset,
            custom_translation_table=table,
            optimize=optimize,
            dynamic_shapes=dynamic_shapes,
            verbose=False,
        )
    return program.model_proto


def run_portable(model: onnx.ModelProto, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run a portable-flavour model in ONNX Runtime (CPU, deterministic single thread)."""
    from edgeattn.runners.ort import OrtRunner

    with OrtRunner(model, threads=1) as runner:
        return runner.run(list(inputs))


def run_plugins(model: onnx.ModelProto, inputs: Sequence[np.ndarray]) -> list[np.ndarray]:
    """Run a plugin-flavour model in onnx's ReferenceEvaluator with the edgeattn reference ops."""
    from edgeattn.runners.reference import ReferenceRunner

    with ReferenceRunner(model) as runner:
        return runner.run(list(inputs))


def run_flavour(
    model: onnx.ModelProto, flavour: Flavour, inputs: Sequence[np.ndarray]
) -> list[np.ndarray]:
    """Run `model` with the runtime that checks `flavour`."""
    if flavour == "portable":
        return run_portable(model, inputs)
    if flavour == "plugins":
        return run_plugins(model, inputs)
    raise UsageError(f"Unknown ONNX flavour {flavour!r}.", "Use 'portable' or 'plugins'.")
