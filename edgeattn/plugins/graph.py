"""The edgeattn plugin nodes of an ONNX graph, with the types and shapes ONNX shape inference gives
them, and the kernel launches their plugins make.

A `PluginNode` is what a plugin sees from TensorRT's ONNX parser: the node's attributes (becoming
plugin fields), its input types and shapes, and ONNX's output types and shapes (what the plugin's
getOutputDataTypes / getOutputShapes must agree with): from ONNX shape inference, or, where the
edgeattn schema gives inference nothing to go on (no value_info, e.g. fp16 graphs), from running
the node alone in `onnx.reference` with the op's evaluator. Node records are plain JSON so test
fixtures can hold them.
"""

from __future__ import annotations

import math
from dataclasses import asdict, dataclass
from typing import Any

import onnx

from edgeattn.errors import UsageError
from edgeattn.ops import all_ops
from edgeattn.ops._onnx_common import DOMAIN, PLUGIN_ATTRIBUTES
from edgeattn.kernels.launches import PluginLaunch

ONNX_TO_TRT = {
    onnx.TensorProto.FLOAT: "kFLOAT",
    onnx.TensorProto.FLOAT16: "kHALF",
    onnx.TensorProto.INT8: "kINT8",
    onnx.TensorProto.INT32: "kINT32",
    onnx.TensorProto.BFLOAT16: "kBF16",
    onnx.TensorProto.BOOL: "kBOOL",
    onnx.TensorProto.INT64: "kINT64",
}
FLOAT_DATA_TYPES = (onnx.TensorProto.FLOAT, onnx.TensorProto.FLOAT16, onnx.TensorProto.BFLOAT16,
                    onnx.TensorProto.DOUBLE)
SMALL_INITIALIZER = 64
"""Float initializers up to this many elements stay in the shape-inference copy (e.g. Resize scales)."""
ATTRIBUTE_TYPES = {
    onnx.AttributeProto.FLOAT: "FLOAT",
    onnx.AttributeProto.FLOATS: "FLOATS",
    onnx.AttributeProto.INT: "INT",
    onnx.AttributeProto.INTS: "INTS",
    onnx.AttributeProto.STRING: "STRING",
}


@dataclass(frozen=True)
class PluginNode:
    """One edgeattn node as TensorRT's ONNX parser hands it to a plugin creator.

    attributes: name -> (ONNX attribute type, value), plugin_namespace/plugin_version included.
    Shapes hold ints, or strings for symbolic dims; types are TensorRT DataType names.
    """

    op_type: str
    name: str
    attributes: dict[str, tuple[str, Any]]
    input_types: list[str]
    input_shapes: list[list[int | str]]
    output_types: list[str]
    output_shapes: list[list[int | str]]

    @property
    def values(self) -> dict[str, Any]:
        """Attribute values without the TensorRT plugin attributes."""
        return {k: v for k, (_, v) in self.attributes.items() if k not in PLUGIN_ATTRIBUTES}

    def to_json(self) -> dict[str, Any]:
        return {**asdict(self), "attributes": {k: list(v) for k, v in self.attributes.items()}}

    @classmethod
    def from_json(cls, record: dict[str, Any]) -> PluginNode:
        attributes = {k: (kind, value) for k, (kind, value) in record["attributes"].items()}
        return cls(**{**record, "attributes": attributes})


def _attribute(attribute: onnx.AttributeProto) -> tuple[str, Any]:
    kind = ATTRIBUTE_TYPES.get(attribute.type)
    if kind is None:
        raise UsageError(
            f"Plugin attribute {attribute.name!r} has ONNX type {attribute.type}; TensorRT passes only "
            "INT(S), FLOAT(S) and STRING attributes to plugins.",
            "Change the op's ONNX plugin node.",
        )
    value = onnx.helper.get_attribute_value(attribute)
    if kind == "STRING":
        value = value.decode()
    return kind, list(value) if isinstance(value, list | tuple) else value


def _tensor_info(value_infos: dict[str, onnx.ValueInfoProto], name: str) -> tuple[int, list[int | str]] | None:
    """(ONNX element type, shape) of a tensor, or None when inference left it unknown."""
    info = value_infos.get(name)
    tensor = info.type.tensor_type if info is not None else None
    if tensor is None or not tensor.elem_type or not tensor.HasField("shape"):
        return None
    shape = [d.dim_value if d.HasField("dim_value") else (d.dim_param or "?") for d in tensor.shape.dim]
    return tensor.elem_type, shape


def _evaluated_outputs(node: onnx.NodeProto, inputs: list[tuple[int, list[int | str]]]) -> list[tuple[int, list]]:
    """Output types and shapes of `node` run alone in onnx.reference on zeros (symbolic dims as 1)."""
    import numpy as np
    from onnx import helper
    from onnx.reference import ReferenceEvaluator

    from edgeattn.ops import evaluator_ops

    feeds = {}
    value_infos = []
    for name, (elem_type, shape) in zip(node.input, inputs, strict=True):
        dims = [d if isinstance(d, int) else 1 for d in shape]
        feeds[name] = np.zeros(dims, dtype=helper.tensor_dtype_to_np_dtype(elem_type))
        value_infos.append(helper.make_tensor_value_info(name, elem_type, dims))
    graph = helper.make_graph([node], "node", value_infos,
                              [helper.make_empty_tensor_value_info(name) for name in node.output])
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid(DOMAIN, 1)])
    results = ReferenceEvaluator(model, new_ops=evaluator_ops()).run(None, feeds)
    return [(helper.np_dtype_to_tensor_dtype(r.dtype), list(r.shape)) for r in results]


def _require(info: tuple[int, list] | None, name: str) -> tuple[int, list]:
    if info is None:
        raise UsageError(f"ONNX shape inference gives no type/shape for tensor {name!r}.",
                         "Export the graph with static shapes (only the batch may be symbolic).")
    return info


def _trt(elem_type: int) -> str:
    return ONNX_TO_TRT.get(elem_type, f"onnx:{elem_type}")


def _shape_skeleton(model: onnx.ModelProto) -> onnx.ModelProto:
    """A copy of `model` for shape inference: large float initializers become typed graph inputs
    (their values never decide a shape), so repeated inference does not copy the weights."""
    light = onnx.ModelProto()
    light.CopyFrom(model)
    graph = light.graph
    kept = []
    for tensor in graph.initializer:
        if tensor.data_type in FLOAT_DATA_TYPES and math.prod(tensor.dims) > SMALL_INITIALIZER:
            graph.input.append(onnx.helper.make_tensor_value_info(tensor.name, tensor.data_type, list(tensor.dims)))
        else:
            kept.append(tensor)
    del graph.initializer[:]
    graph.initializer.extend(kept)
    return light


def _value_infos(graph: onnx.GraphProto) -> dict[str, onnx.ValueInfoProto]:
    initializers = [onnx.helper.make_tensor_value_info(t.name, t.data_type, list(t.dims)) for t in graph.initializer]
    return {v.name: v for v in (*initializers, *graph.value_info, *graph.input, *graph.output)}


def _edgeattn_nodes(graph: onnx.GraphProto) -> list[onnx.NodeProto]:
    known = {op.name for op in all_ops()}
    return [node for node in graph.node if node.domain == DOMAIN and node.op_type in known]


def _inferred_graph(model: onnx.ModelProto) -> onnx.GraphProto:
    """The shape-inferred graph; where inference stops at an edgeattn node (its schema has no shape
    function, and fp16 conversion drops the exporter's value_info), the node's outputs are evaluated
    (symbolic input dims read as 1) and inference resumes after it."""
    light = _shape_skeleton(model)
    for _ in range(len(light.graph.node) + 1):
        graph = onnx.shape_inference.infer_shapes(light).graph
        infos = _value_infos(graph)
        for node in _edgeattn_nodes(graph):
            inputs = [_tensor_info(infos, name) for name in node.input]
            if all(_tensor_info(infos, name) is not None for name in node.output) or None in inputs:
                continue
            for name, (elem_type, shape) in zip(node.output, _evaluated_outputs(node, inputs), strict=True):
                light.graph.value_info.append(onnx.helper.make_tensor_value_info(name, elem_type, shape))
            break
        else:
            return graph
    raise UsageError("ONNX shape inference does not converge on this graph.", "Report the graph.")


def plugin_nodes(model: onnx.ModelProto) -> list[PluginNode]:
    """Every edgeattn node of the main graph, in graph order, with ONNX's types and shapes."""
    graph = _inferred_graph(model)
    value_infos = _value_infos(graph)
    nodes = []
    for node in _edgeattn_nodes(graph):
        inputs = [_require(_tensor_info(value_infos, name), name) for name in node.input]
        outputs = [_require(_tensor_info(value_infos, name), name) for name in node.output]
        nodes.append(
            PluginNode(
                op_type=node.op_type,
                name=node.name,
                attributes={a.name: _attribute(a) for a in node.attribute},
                input_types=[_trt(t) for t, _ in inputs],
                input_shapes=[s for _, s in inputs],
                output_types=[_trt(t) for t, _ in outputs],
                output_shapes=[s for _, s in outputs],
            )
        )
    return nodes


def node_launches(node: PluginNode) -> list[PluginLaunch]:
    """The kernel launches the node's plugin may make (one per accepted I/O type combination)."""
    from edgeattn.ops import get_op

    op = get_op(node.op_type)
    if op.plugin_kernels is None:
        raise UsageError(
            f"{node.op_type} has no TensorRT plugin yet (node {node.name!r}).",
            "Export the portable flavour for this model, or add the op's plugin/ folder.",
        )
    return op.plugin_kernels.node_launches(node.values, node.input_shapes)


def unique_launches(launches: list[PluginLaunch]) -> list[PluginLaunch]:
    """One launch per variant key, sorted by key (deterministic tables)."""
    by_key: dict[str, PluginLaunch] = {}
    for launch in launches:
        by_key.setdefault(launch.key, launch)
    return [by_key[key] for key in sorted(by_key)]


def graph_launches(models: list[onnx.ModelProto]) -> list[PluginLaunch]:
    """Every distinct kernel variant the plugin nodes of `models` need."""
    nodes = [node for model in models for node in plugin_nodes(model)]
    return unique_launches([launch for node in nodes for launch in node_launches(node)])


def case_inputs(op: Any, case: Any) -> list[Any]:
    """The fp32 input tensors of one spec.yaml case of `op`, required then the optional ones the case
    has, in spec order (`edgeattn.ops.cases.make_case`: dims a case leaves to its inputs' recipe, such
    as a voxel op's set count, are concrete)."""
    from edgeattn.ops.cases import make_case

    made = make_case(op, case)
    return [*made.inputs, *(made.attrs[name] for name in op.spec.optional_inputs if name in made.attrs)]


def case_launches(op: Any, case: Any) -> list[PluginLaunch]:
    """The launches of one spec.yaml case of `op` (INT8 ones included)."""
    shapes = [list(tensor.shape) for tensor in case_inputs(op, case)]
    return op.plugin_kernels.node_launches(op.plugin_kernels.case_attributes(case), shapes)


def spec_launches() -> list[PluginLaunch]:
    """Every distinct kernel variant of the spec.yaml cases of the ops that have plugins."""
    launches = []
    for op in all_ops():
        if op.plugin_kernels is not None:
            launches += [launch for case in op.spec.cases for launch in case_launches(op, case)]
    return unique_launches(launches)
