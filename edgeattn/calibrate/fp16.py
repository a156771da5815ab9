"""Strongly typed fp16 ONNX with fp32 islands: every precision change is an explicit Cast node.

Works for both flavours: edgeattn plugin nodes take fp16 tensors (their kernels keep their own fp32
islands inside). Nodes chosen by `calibrate.islands.find_islands` compute in fp32; every other node
computing on floats runs in fp16. Graph inputs/outputs are fp32 (with Casts at the edges) or fp16.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np
import onnx
from onnx import TensorProto, helper, numpy_helper

from edgeattn.calibrate.islands import IslandRules, ensure_node_names, find_islands
from edgeattn.errors import UsageError

IODtype = Literal["fp32", "fp16"]
FLOAT, HALF = TensorProto.FLOAT, TensorProto.FLOAT16
FP16_MAX = float(np.finfo(np.float16).max)

# (op_type, input index) that must stay fp32 whatever the node's precision.
FP32_ONLY_INPUTS = frozenset({("Resize", 1), ("Resize", 2)})


@dataclass(frozen=True)
class FP16Result:
    """The converted model and what the conversion did, for the manifest."""

    model: onnx.ModelProto
    islands: dict[str, str]
    casts: int
    clipped_initializers: list[str]


def convert_fp16(model: onnx.ModelProto, rules: IslandRules, io_dtype: IODtype = "fp32") -> FP16Result:
    """Return an fp16 copy of `model` with fp32 islands; `io_dtype` picks the graph input/output type."""
    if io_dtype not in ("fp32", "fp16"):
        raise UsageError(f"unknown I/O dtype {io_dtype!r}", "Use 'fp32' (Casts at the edges) or 'fp16'.")
    model = onnx.shape_inference.infer_shapes(model, data_prop=True)
    ensure_node_names(model)
    islands = find_islands(model, rules)
    converter = _Converter(model, islands)
    converter.run(io_dtype)
    out = converter.model
    del out.graph.value_info[:]
    out = onnx.shape_inference.infer_shapes(out)
    onnx.checker.check_model(out)
    return FP16Result(out, islands, converter.casts, sorted(converter.clipped))


class _Converter:
    def __init__(self, model: onnx.ModelProto, islands: dict[str, str]) -> None:
        self.model = model
        self.islands = islands
        graph = model.graph
        self.initializers = {init.name: init for init in graph.initializer}
        self.dtype: dict[str, int] = {}
        for value in [*graph.input, *graph.value_info, *graph.output]:
            if value.type.HasField("tensor_type"):
                self.dtype[value.name] = value.type.tensor_type.elem_type
        for init in graph.initializer:
            self.dtype[init.name] = init.data_type
        self.converted: dict[tuple[str, int], str] = {}
        self.new_initializers: list[TensorProto] = []
        self.casts = 0
        self.clipped: set[str] = set()

    def run(self, io_dtype: IODtype) -> None:
        graph = self.model.graph
        if io_dtype == "fp16":
            for value in graph.input:
                if value.type.tensor_type.elem_type == FLOAT:
                    value.type.tensor_type.elem_type = HALF
                    self.dtype[value.name] = HALF
        nodes: list[onnx.NodeProto] = []
        for node in graph.node:
            nodes.extend(self._convert_node(onnx.NodeProto.FromString(node.SerializeToString())))
        nodes.extend(self._fix_outputs(io_dtype, nodes))
        del graph.node[:]
        graph.node.extend(nodes)
        used = {name for node in graph.node for name in node.input}
        kept = [init for init in graph.initializer if init.name in used]
        del graph.initializer[:]
        graph.initializer.extend(kept + [init for init in self.new_initializers if init.name in used])

    def _is_float(self, name: str) -> bool:
        return self.dtype.get(name) in (FLOAT, HALF)

    def _convert_node(self, node: onnx.NodeProto) -> list[onnx.NodeProto]:
        target = FLOAT if node.name in self.islands else HALF
        if node.op_type == "Cast":
            to = helper.get_attribute_value(next(a for a in node.attribute if a.name == "to"))
            if to in (FLOAT, HALF):
                for attr in node.attribute:
                    if attr.name == "to":
                        attr.i = target
                self.dtype[node.output[0]] = target
            return [node]
        float_inputs = [i for i, name in enumerate(node.input) if name and self._is_float(name)]
        if not float_inputs:
            return [node]
        before: list[onnx.NodeProto] = []
        for index in float_inputs:
            want = FLOAT if (node.op_type, index) in FP32_ONLY_INPUTS else target
            name = node.input[index]
            if self.dtype[name] != want:
                node.input[index] = self._as_dtype(name, want, before)
        for out in node.output:
            if self.dtype.get(out) in (FLOAT, HALF):
                self.dtype[out] = target
        return [*before, node]

    def _as_dtype(self, name: str, dtype: int, before: list[onnx.NodeProto]) -> str:
        key = (name, dtype)
        if key in self.converted:
            return self.converted[key]
        suffix = "fp16" if dtype == HALF else "fp32"
        new_name = f"{name}__{suffix}"
        init = self.initializers.get(name)
        if init is not None:
            array = numpy_helper.to_array(init)
            if dtype == HALF and np.abs(array).max(initial=0.0) > FP16_MAX:
                self.clipped.add(name)
                array = np.clip(array, -FP16_MAX, FP16_MAX)
            self.new_initializers.append(numpy_helper.from_array(array.astype(_np_dtype(dtype)), new_name))
        else:
            before.append(helper.make_node("Cast", [name], [new_name], name=f"Cast__{new_name}", to=dtype))
            self.casts += 1
        self.dtype[new_name] = dtype
        self.converted[key] = new_name
        return new_name

    def _fix_outputs(self, io_dtype: IODtype, graph_nodes: list[onnx.NodeProto]) -> list[onnx.NodeProto]:
        want = FLOAT if io_dtype == "fp32" else HALF
        nodes = []
        for value in self.model.graph.output:
            have = self.dtype.get(value.name)
            if have not in (FLOAT, HALF):
                continue
            value.type.tensor_type.elem_type = want
            if have == want:
                continue
            inner = f"{value.name}__{'fp16' if have == HALF else 'fp32'}"
            for node in graph_nodes:
                node.output[:] = [inner if o == value.name else o for o in node.output]
                node.input[:] = [inner if i == value.name else i for i in node.input]
            nodes.append(helper.make_node("Cast", [inner], [value.name], name=f"Cast__{value.name}", to=want))
            self.casts += 1
            value.type.tensor_type.elem_type = want
        return nodes


def _np_dtype(dtype: int) -> type:
    return np.float16 if dtype == HALF else np.float32
