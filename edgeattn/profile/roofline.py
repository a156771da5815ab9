"""Roofline latency *estimate* from an ONNX graph and a target's peak numbers.

Per node: FLOPs from the op's math (a multiply-add counts 2) and bytes moved (every input, weights
included, read once and every output written once, at the chosen element size). A node takes
``max(flops / peak_flops, bytes / bandwidth)``: compute-bound when the first term wins. The sum over
nodes is a lower bound on latency that ignores fusion, launch overhead, caches and achieved-vs-peak
efficiency. It is an estimate and is always reported apart from measurements.

An edgeattn plugin node costs what its op's FLOP model says (`OpDef.cost`, in the op's folder: the same
model the kernel benchmark's roofline uses); a portable graph is costed node by node.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol

import onnx
from onnx import helper, numpy_helper, shape_inference

from edgeattn.errors import EdgeattnError, UsageError
from edgeattn.ops import get_op
from edgeattn.ops.registry import DOMAIN

Shape = tuple[int, ...]

_ZERO_COST = {"Reshape", "Squeeze", "Unsqueeze", "Flatten", "Identity", "Shape", "Constant", "Size",
              "ConstantOfShape", "Dropout"}
_MOVEMENT = {"Transpose", "Concat", "Split", "Slice", "Gather", "GatherElements", "GatherND", "ScatterND",
             "ScatterElements", "Pad", "Expand", "Tile", "Cast", "DepthToSpace", "SpaceToDepth", "Where",
             "Range", "TopK", "NonZero", "QuantizeLinear", "DequantizeLinear"}
_ELEMENTWISE_COST = {
    "Add": 1, "Sub": 1, "Mul": 1, "Div": 1, "Neg": 1, "Abs": 1, "Relu": 1, "LeakyRelu": 2, "PRelu": 2,
    "Clip": 2, "Max": 1, "Min": 1, "Equal": 1, "Greater": 1, "Less": 1, "Not": 1, "And": 1, "Or": 1,
    "Sqrt": 1, "Reciprocal": 1, "Pow": 1, "Exp": 1, "Log": 1, "Erf": 1, "Floor": 1, "Ceil": 1, "Round": 1,
    "Sigmoid": 4, "Tanh": 4, "HardSigmoid": 3, "HardSwish": 4, "Gelu": 8, "Mish": 8, "Softplus": 3,
    "Elu": 3, "Selu": 3, "Sign": 1, "Mod": 1, "BitShift": 1,
}
_REDUCTIONS = {"ReduceMean", "ReduceSum", "ReduceMax", "ReduceMin", "ReduceProd", "ReduceL1", "ReduceL2",
               "ReduceSumSquare", "ReduceLogSumExp", "ArgMax", "ArgMin", "GlobalAveragePool", "GlobalMaxPool"}
_SOFTMAX_COST = 5
_NORM_COST = {"LayerNormalization": 8, "GroupNormalization": 8, "InstanceNormalization": 8,
              "BatchNormalization": 2, "LpNormalization": 3, "MeanVarianceNormalization": 8}
_RESIZE_COST = {"nearest": 1, "linear": 8, "cubic": 32}


class TargetLike(Protocol):
    """The fields of ``edgeattn.exporters.targets.TargetProfile`` the estimator reads."""

    name: str
    kind: str
    peak_fp16_tflops: float
    peak_int8_tops: float
    peak_fp32_tflops: float
    memory_bandwidth_gbs: float


PRECISIONS: dict[str, tuple[str, int]] = {
    "fp32": ("peak_fp32_tflops", 4),
    "fp16": ("peak_fp16_tflops", 2),
    "int8": ("peak_int8_tops", 1),
}


@dataclass
class NodeCost:
    """FLOPs and bytes of one node; ``modelled`` is False when its math is unknown (FLOPs counted 0)."""

    name: str
    op_type: str
    flops: float
    elements_moved: float
    modelled: bool = True


@dataclass
class GraphCost:
    """FLOPs and element traffic of a whole graph at fixed input shapes."""

    nodes: list[NodeCost] = field(default_factory=list)

    @property
    def flops(self) -> float:
        return sum(n.flops for n in self.nodes)

    @property
    def unmodelled_ops(self) -> list[str]:
        return sorted({n.op_type for n in self.nodes if not n.modelled})


class _Shapes:
    """Static shapes and constant values of tensors after ONNX shape inference."""

    def __init__(self, model: onnx.ModelProto) -> None:
        self.shapes: dict[str, Shape | None] = {}
        self.constants: dict[str, Any] = {}
        for init in model.graph.initializer:
            self.shapes[init.name] = tuple(init.dims)
            self.constants[init.name] = numpy_helper.to_array(init)
        for info in list(model.graph.input) + list(model.graph.value_info) + list(model.graph.output):
            if info.name not in self.shapes:
                self.shapes[info.name] = _static_shape(info)
        for node in model.graph.node:
            if node.op_type == "Constant" and node.attribute:
                value = helper.get_attribute_value(node.attribute[0])
                if isinstance(value, onnx.TensorProto):
                    self.constants[node.output[0]] = numpy_helper.to_array(value)
                    self.shapes[node.output[0]] = tuple(value.dims)

    def get(self, name: str) -> Shape | None:
        return self.shapes.get(name) if name else None


def _static_shape(info: onnx.ValueInfoProto) -> Shape | None:
    if not info.type.HasField("tensor_type") or not info.type.tensor_type.HasField("shape"):
        return None
    dims = info.type.tensor_type.shape.dim
    if any(not d.HasField("dim_value") for d in dims):
        return None
    return tuple(d.dim_value for d in dims)


def _numel(shape: Shape | None) -> int:
    return math.prod(shape) if shape is not None else 0


def _attr(node: onnx.NodeProto, name: str, default: Any) -> Any:
    for a in node.attribute:
        if a.name == name:
            return helper.get_attribute_value(a)
    return default


def _conv_flops(node: onnx.NodeProto, shapes: _Shapes) -> float:
    w, y = shapes.get(node.input[1]), shapes.get(node.output[0])
    if w is None or y is None:
        raise _Unknown
    macs = _numel(y) * w[1] * math.prod(w[2:])
    bias = _numel(y) if len(node.input) > 2 and node.input[2] else 0
    return 2.0 * macs + bias


def _conv_transpose_flops(node: onnx.NodeProto, shapes: _Shapes) -> float:
    x, w, y = shapes.get(node.input[0]), shapes.get(node.input[1]), shapes.get(node.output[0])
    if x is None or w is None or y is None:
        raise _Unknown
    macs = _numel(x) * w[1] * math.prod(w[2:])
    bias = _numel(y) if len(node.input) > 2 and node.input[2] else 0
    return 2.0 * macs + bias


def _matmul_flops(node: onnx.NodeProto, shapes: _Shapes) -> float:
    a, y = shapes.get(node.input[0]), shapes.get(node.output[0])
    if a is None or y is None:
        raise _Unknown
    return 2.0 * _numel(y) * a[-1]


def _gemm_flops(node: onnx.NodeProto, shapes: _Shapes) -> float:
    a, y = shapes.get(node.input[0]), shapes.get(node.output[0])
    if a is None or y is None:
        raise _Unknown
    k = a[0] if _attr(node, "transA", 0) else a[1]
    bias = _numel(y) if len(node.input) > 2 and node.input[2] else 0
    return 2.0 * _numel(y) * k + bias


def _pool_flops(node: onnx.NodeProto, shapes: _Shapes) -> float:
    kernel = _attr(node, "kernel_shape", [1])
    return float(_numel(shapes.get(node.output[0])) * math.prod(kernel))


def _softmax_flops(node: onnx.NodeProto, shapes: _Shapes) -> float:
    return float(_SOFTMAX_COST * _numel(shapes.get(node.output[0])))


def _resize_flops(node: onnx.NodeProto, shapes: _Shapes) -> float:
    mode = _attr(node, "mode", b"nearest")
    mode = mode.decode() if isinstance(mode, bytes) else str(mode)
    return float(_RESIZE_COST.get(mode, 8) * _numel(shapes.get(node.output[0])))


def _edgeattn_cost(node: onnx.NodeProto, shapes: _Shapes) -> NodeCost:
    """An edgeattn node costs what its op's FLOP model says (`OpDef.cost`, the one the kernel benchmark uses)."""
    op = get_op(node.op_type)
    names = [*op.spec.inputs, *op.spec.optional_inputs]
    known = {name: shapes.get(tensor) for name, tensor in zip(names, node.input) if tensor}
    if any(shape is None for shape in known.values()):
        raise _Unknown
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    cost = op.cost({name: tuple(shape) for name, shape in known.items()}, attributes)
    return NodeCost(node.name, node.op_type, float(cost.flops), float(cost.elements))


class _Unknown(Exception):
    """Raised when a node's FLOPs cannot be derived (unknown op or unknown shapes)."""


_FLOPS: dict[str, Callable[[onnx.NodeProto, _Shapes], float]] = {
    "Conv": _conv_flops, "ConvTranspose": _conv_transpose_flops, "MatMul": _matmul_flops, "Gemm": _gemm_flops,
    "AveragePool": _pool_flops, "MaxPool": _pool_flops, "LpPool": _pool_flops,
    "Softmax": _softmax_flops, "LogSoftmax": _softmax_flops, "Resize": _resize_flops, "Upsample": _resize_flops,
}


def node_cost(node: onnx.NodeProto, shapes: _Shapes) -> NodeCost:
    """FLOPs and elements moved by one node at the shapes in ``shapes``."""
    op = node.op_type
    moved_in = sum(_numel(shapes.get(t)) for t in node.input)
    moved_out = sum(_numel(shapes.get(t)) for t in node.output)
    moved = float(moved_in + moved_out)
    out = _numel(shapes.get(node.output[0])) if node.output else 0
    try:
        if node.domain == DOMAIN:
            return _edgeattn_cost(node, shapes)
        if op in _ZERO_COST:
            return NodeCost(node.name, op, 0.0, 0.0)
        if op in _MOVEMENT:
            return NodeCost(node.name, op, 0.0, moved)
        if op in _FLOPS:
            return NodeCost(node.name, op, _FLOPS[op](node, shapes), moved)
        if op in _ELEMENTWISE_COST:
            return NodeCost(node.name, op, float(_ELEMENTWISE_COST[op] * out), moved)
        if op in _REDUCTIONS:
            return NodeCost(node.name, op, float(_numel(shapes.get(node.input[0]))), moved)
        if op in _NORM_COST:
            return NodeCost(node.name, op, float(_NORM_COST[op] * out), moved)
    except _Unknown:
        return NodeCost(node.name, op, 0.0, moved, modelled=False)
    return NodeCost(node.name, op, 0.0, moved, modelled=False)


def graph_cost(model: onnx.ModelProto, input_shapes: dict[str, Sequence[int]] | None = None) -> GraphCost:
    """Cost of every node after fixing ``input_shapes`` (dynamic dims) and running shape inference."""
    model = _with_fixed_inputs(model, input_shapes or {})
    try:
        inferred = shape_inference.infer_shapes(model, data_prop=True)
    except Exception as error:  # onnx raises several unrelated types here
        raise EdgeattnError(f"ONNX shape inference failed: {error}",
                            "check the model with `python -m onnx.checker` or re-export it") from error
    shapes = _Shapes(inferred)
    return GraphCost([node_cost(n, shapes) for n in inferred.graph.node])


def _with_fixed_inputs(model: onnx.ModelProto, input_shapes: dict[str, Sequence[int]]) -> onnx.ModelProto:
    fixed = onnx.ModelProto()
    fixed.CopyFrom(model)
    static_info = [v for v in fixed.graph.value_info if _static_shape(v) is not None]
    del fixed.graph.value_info[:]
    fixed.graph.value_info.extend(static_info)
    for graph_output in fixed.graph.output:
        graph_output.type.tensor_type.ClearField("shape")
    initializers = {i.name for i in fixed.graph.initializer}
    for graph_input in fixed.graph.input:
        if graph_input.name in initializers:
            continue
        dims = graph_input.type.tensor_type.shape.dim
        wanted = input_shapes.get(graph_input.name)
        if wanted is None:
            if any(not d.HasField("dim_value") for d in dims):
                raise UsageError(f"input {graph_input.name!r} has dynamic dimensions and no shape was given",
                                 "pass input_shapes={name: (batch, ...)}")
            continue
        if len(wanted) != len(dims):
            raise UsageError(f"input {graph_input.name!r} has rank {len(dims)}, got shape {tuple(wanted)}",
                             "give one size per dimension")
        for dim, size in zip(dims, wanted):
            dim.Clear()
            dim.dim_value = int(size)
    return fixed


def estimate(cost: GraphCost, target: TargetLike, precision: str = "fp16") -> dict[str, Any]:
    """Roofline latency estimate of ``cost`` on ``target`` at ``precision`` ("fp32", "fp16", "int8")."""
    if precision not in PRECISIONS:
        raise UsageError(f"unknown precision {precision!r}", f"choose one of: {', '.join(PRECISIONS)}")
    peak_field, element_bytes = PRECISIONS[precision]
    peak = float(getattr(target, peak_field) or 0.0) * 1e12
    bandwidth = float(target.memory_bandwidth_gbs or 0.0) * 1e9
    if peak <= 0 or bandwidth <= 0:
        raise UsageError(f"target {target.name} has no {peak_field} or memory bandwidth",
                         "pick another precision or target")
    compute_s = memory_s = total_s = 0.0
    compute_bound = memory_bound = 0
    for node in cost.nodes:
        t_compute = node.flops / peak
        t_memory = node.elements_moved * element_bytes / bandwidth
        compute_s += t_compute
        memory_s += t_memory
        total_s += max(t_compute, t_memory)
        if node.flops == 0 and node.elements_moved == 0:
            continue
        if t_compute >= t_memory:
            compute_bound += 1
        else:
            memory_bound += 1
    return {
        "target": target.name,
        "kind": target.kind,
        "precision": precision,
        "is_estimate": True,
        "flops": cost.flops,
        "bytes": sum(n.elements_moved for n in cost.nodes) * element_bytes,
        "compute_only_ms": compute_s * 1e3,
        "memory_only_ms": memory_s * 1e3,
        "estimated_latency_ms": total_s * 1e3,
        "compute_bound_nodes": compute_bound,
        "memory_bound_nodes": memory_bound,
        "unmodelled_ops": cost.unmodelled_ops,
    }


def load_targets(kinds: Sequence[str] = ("jetson", "gpu")) -> tuple[list[Any], str]:
    """Target profiles of the given kinds from ``edgeattn.exporters.targets``, or ([], why not)."""
    try:
        from edgeattn.exporters.targets import list_targets
    except ImportError:
        return [], "edgeattn.exporters.targets is not available in this edgeattn version"
    return [t for t in list_targets() if t.kind in kinds], ""


def estimate_for_targets(model_path: str | Path, input_shapes: dict[str, Sequence[int]],
                         precision: str = "fp16") -> dict[str, Any]:
    """Roofline estimates of one ONNX file on every Jetson/GPU target profile."""
    cost = graph_cost(onnx.load(str(model_path)), input_shapes)
    targets, reason = load_targets()
    return {
        "note": "roofline estimate from graph FLOPs/bytes and target peak numbers; not a measurement",
        "precision": precision,
        "flops": cost.flops,
        "unmodelled_ops": cost.unmodelled_ops,
        "targets": [estimate(cost, t, precision) for t in targets],
        "unavailable_reason": reason or None,
    }
