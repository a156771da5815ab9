"""fp16 graphs with fp32 islands: placement of precision, explicit Casts, numerics against torch fp32."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
import torch
from onnx import TensorProto
from onnx.reference import ReferenceEvaluator

from edgeattn.calibrate.islands import rules_from_hints
from edgeattn.calibrate.fp16 import convert_fp16
from edgeattn.ops import evaluator_ops
from calib_helpers import tiny_net

from edgeattn.ops import all_ops
from edgeattn.ops.rewrite import ops_in
from edgeattn.tolerances import OP_FP16_ATOL

ISLAND_OPS = {o.name for o in all_ops() if o.fp32_island_ops} & set(ops_in(tiny_net()))
"""The tiny network's ops whose portable decomposition keeps fp32 islands."""

RULES = rules_from_hints(["softmax input"])


def _types(model: onnx.ModelProto) -> dict[str, int]:
    inferred = onnx.shape_inference.infer_shapes(model)
    types = {v.name: v.type.tensor_type.elem_type for v in [*inferred.graph.input, *inferred.graph.value_info,
                                                              *inferred.graph.output]}
    types.update({i.name: i.data_type for i in inferred.graph.initializer})
    return types


def _torch(model, x):
    with torch.no_grad():
        return model(torch.as_tensor(x)).numpy()


def test_islands_run_fp32_and_the_rest_fp16(tiny_graphs):
    _, graphs = tiny_graphs
    result = convert_fp16(graphs["portable"], RULES)
    types = _types(result.model)
    reasons = set(result.islands.values())
    assert {"normalisation", "softmax", "softmax_input", *ISLAND_OPS} <= reasons
    by_name = {n.name: n for n in result.model.graph.node}
    for name in result.islands:
        node = by_name[name]
        float_inputs = [types[i] for i in node.input if i and types.get(i) in (TensorProto.FLOAT, TensorProto.FLOAT16)]
        assert float_inputs and all(t == TensorProto.FLOAT for t in float_inputs), (node.op_type, name)
    convs = [n for n in result.model.graph.node if n.op_type == "Conv"]
    assert convs and all(types[n.input[1]] == TensorProto.FLOAT16 for n in convs)
    assert result.casts == sum(n.op_type == "Cast" for n in result.model.graph.node) - sum(
        n.op_type == "Cast" for n in graphs["portable"].graph.node)


def test_portable_fp16_matches_torch_fp32(tiny_graphs, tiny_inputs):
    model, graphs = tiny_graphs
    result = convert_fp16(graphs["portable"], RULES)
    session = ort.InferenceSession(result.model.SerializeToString(), providers=["CPUExecutionProvider"])
    for x in tiny_inputs:
        got = session.run(None, {"image": x})[0]
        assert got.dtype == np.float32
        np.testing.assert_allclose(got, _torch(model, x), atol=OP_FP16_ATOL, rtol=0)


def test_fp16_io_and_determinism(tiny_graphs, tiny_inputs):
    model, graphs = tiny_graphs
    first = convert_fp16(graphs["portable"], RULES, io_dtype="fp16").model
    second = convert_fp16(graphs["portable"], RULES, io_dtype="fp16").model
    assert first.SerializeToString(deterministic=True) == second.SerializeToString(deterministic=True)
    assert first.graph.input[0].type.tensor_type.elem_type == TensorProto.FLOAT16
    assert first.graph.output[0].type.tensor_type.elem_type == TensorProto.FLOAT16
    session = ort.InferenceSession(first.SerializeToString(), providers=["CPUExecutionProvider"])
    got = session.run(None, {"image": tiny_inputs[0].astype(np.float16)})[0]
    np.testing.assert_allclose(got.astype(np.float32), _torch(model, tiny_inputs[0]), atol=OP_FP16_ATOL, rtol=0)


def test_plugin_fp16_feeds_edgeattn_nodes_fp16_and_matches_reference(tiny_graphs, tiny_inputs):
    model, graphs = tiny_graphs
    result = convert_fp16(graphs["plugins"], RULES)
    types = _types(result.model)
    plugins = [n for n in result.model.graph.node if n.domain == "edgeattn"]
    assert {n.op_type for n in plugins} == {"ReLULinearAttention", "SingleHeadAttention"}
    assert all(types[n.input[0]] == TensorProto.FLOAT16 for n in plugins)
    evaluator = ReferenceEvaluator(result.model, new_ops=evaluator_ops())
    got = evaluator.run(None, {"image": tiny_inputs[0]})[0]
    np.testing.assert_allclose(got.astype(np.float32), _torch(model, tiny_inputs[0]), atol=OP_FP16_ATOL, rtol=0)


def test_unknown_io_dtype_is_a_usage_error(tiny_graphs):
    from edgeattn.errors import UsageError

    with pytest.raises(UsageError, match="I/O dtype"):
        convert_fp16(tiny_graphs[1]["portable"], RULES, io_dtype="bf16")  # type: ignore[arg-type]
