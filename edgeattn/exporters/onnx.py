"""torch → ONNX with the dynamo exporter: the one `torch.onnx.export` call of edgeattn."""

from __future__ import annotations

import contextlib
import io
import warnings
from typing import Any

import onnx
import torch
from torch import nn


def export_onnx(
    model: nn.Module,
    example_inputs: tuple[torch.Tensor, ...],
    *,
    opset: int,
    input_names: list[str],
    output_names: list[str],
    dynamic_shapes: Any = None,
    translation_table: dict[Any, Any] | None = None,
    metadata: dict[str, str] | None = None,
) -> onnx.ModelProto:
    """Export `model` in eval mode and return the optimised ONNX model (BatchNorm folded into convs).

    `dynamic_shapes` goes to `torch.export` (None: every shape static). The graph is deterministic for
    identical inputs: no timestamps, paths or per-process counters are written into it.
    """
    model = model.eval()
    with warnings.catch_warnings(), contextlib.redirect_stdout(io.StringIO()):
        warnings.simplefilter("ignore")
        program = torch.onnx.export(
            model,
            example_inputs,
            dynamo=True,
            opset_version=opset,
            input_names=input_names,
            output_names=output_names,
            dynamic_shapes=dynamic_shapes,
            custom_translation_table=translation_table,
            optimize=True,
            verbose=False,
        )
    proto = program.model_proto
    _drop_volatile_metadata(proto)
    unshare_float_initializers(proto.graph)
    proto.producer_name = "edgeattn"
    del proto.metadata_props[:]
    for key, value in sorted((metadata or {}).items()):
        proto.metadata_props.add(key=key, value=value)
    onnx.checker.check_model(proto)
    return proto


_VOLATILE_NODE_METADATA = ("pkg.torch.onnx.stack_trace",)
"""Node metadata that embeds per-process counters (``<eval_with_key>.N``) and would break determinism."""


def _drop_volatile_metadata(proto: onnx.ModelProto) -> None:
    nodes = [*proto.graph.node, *(n for f in proto.functions for n in f.node)]
    for node in nodes:
        kept = [p for p in node.metadata_props if p.key not in _VOLATILE_NODE_METADATA]
        del node.metadata_props[:]
        node.metadata_props.extend(kept)


def unshare_float_initializers(graph: onnx.GraphProto) -> None:
    """Give every node its own copy of each float initializer it reads.

    The exporter's optimiser merges equal constants (e.g. the ones/zeros of freshly initialised norms),
    so one initializer can feed several Mul/Add/Conv nodes. ONNX Runtime's `quantize_static` and other
    per-node quantizers refuse such shared weights ("shared mode is not supported"); copies cost only
    the duplicated constants. Integer constants (shapes, axes, split sizes) stay shared.
    """
    floats = {onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16, onnx.TensorProto.DOUBLE}
    initializers = {init.name: init for init in graph.initializer if init.data_type in floats}
    used = {init.name for init in graph.initializer} | {out for node in graph.node for out in node.output}
    used |= {value.name for value in graph.input}
    seen: dict[str, int] = {}
    copies: list[onnx.TensorProto] = []
    for node in graph.node:
        for index, name in enumerate(node.input):
            if name not in initializers:
                continue
            seen[name] = seen.get(name, 0) + 1
            if seen[name] == 1:
                continue
            copy = onnx.TensorProto()
            copy.CopyFrom(initializers[name])
            copy.name = f"{name}__{seen[name] - 1}"
            while copy.name in used:
                copy.name += "_"
            used.add(copy.name)
            copies.append(copy)
            node.input[index] = copy.name
    graph.initializer.extend(copies)


def save_onnx(proto: onnx.ModelProto, path) -> None:
    """Serialize deterministically (single file; models here are far below the 2 GB protobuf limit)."""
    with open(path, "wb") as handle:
        handle.write(proto.SerializeToString(deterministic=True))
