"""Roofline estimator against hand-computed FLOPs, bytes and bounds."""

from __future__ import annotations

from types import SimpleNamespace

import numpy as np
import onnx
import pytest
from onnx import TensorProto, helper, numpy_helper

from edgeattn.errors import UsageError
from edgeattn.profile.roofline import estimate, graph_cost

# Conv: X [1,3,7,7] * W [4,3,3,3], pad 1 -> Y [1,4,7,7]
CONV_FLOPS = 2 * (4 * 7 * 7) * (3 * 3 * 3)  # 10584
CONV_ELEMENTS = 3 * 7 * 7 + 4 * 3 * 3 * 3 + 4 * 7 * 7  # 451
# MatMul: A [13,11] @ B [11,5] -> [13,5]
MATMUL_FLOPS = 2 * 13 * 11 * 5  # 1430
MATMUL_ELEMENTS = 13 * 11 + 11 * 5 + 13 * 5  # 263

# 1 MFLOP/s fp32 and 0.5 MB/s: the Conv is compute-bound, the MatMul memory-bound.
SLOW_TARGET = SimpleNamespace(name="hand", kind="gpu", peak_fp32_tflops=1e-6, peak_fp16_tflops=2e-6,
                              peak_int8_tops=4e-6, memory_bandwidth_gbs=5e-4)


def conv_matmul_model(batch_dim: int | str = 1) -> onnx.ModelProto:
    rng = np.random.default_rng(42)
    weight = numpy_helper.from_array(rng.standard_normal((4, 3, 3, 3)).astype(np.float32), "W")
    right = numpy_helper.from_array(rng.standard_normal((11, 5)).astype(np.float32), "B")
    graph = helper.make_graph(
        [helper.make_node("Conv", ["X", "W"], ["Y"], name="conv", pads=[1, 1, 1, 1], kernel_shape=[3, 3]),
         helper.make_node("MatMul", ["A", "B"], ["C"], name="matmul")],
        "hand",
        [helper.make_tensor_value_info("X", TensorProto.FLOAT, [batch_dim, 3, 7, 7]),
         helper.make_tensor_value_info("A", TensorProto.FLOAT, [13, 11])],
        [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None),
         helper.make_tensor_value_info("C", TensorProto.FLOAT, None)],
        initializer=[weight, right],
    )
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])


def test_node_costs_match_hand_count():
    cost = graph_cost(conv_matmul_model())
    by_name = {n.name: n for n in cost.nodes}
    assert by_name["conv"].flops == CONV_FLOPS
    assert by_name["conv"].elements_moved == CONV_ELEMENTS
    assert by_name["matmul"].flops == MATMUL_FLOPS
    assert by_name["matmul"].elements_moved == MATMUL_ELEMENTS
    assert cost.unmodelled_ops == []


def test_estimate_takes_the_binding_roof_per_node():
    result = estimate(graph_cost(conv_matmul_model()), SLOW_TARGET, precision="fp32")
    conv_ms = CONV_FLOPS / 1e6 * 1e3  # compute: 10.584 ms (memory 3.608 ms)
    matmul_ms = MATMUL_ELEMENTS * 4 / 5e5 * 1e3  # memory: 2.104 ms (compute 1.43 ms)
    assert result["estimated_latency_ms"] == pytest.approx(conv_ms + matmul_ms, rel=1e-12)
    assert result["compute_only_ms"] == pytest.approx((CONV_FLOPS + MATMUL_FLOPS) / 1e6 * 1e3)
    assert result["compute_bound_nodes"] == 1 and result["memory_bound_nodes"] == 1
    assert result["is_estimate"] is True


def test_fp16_halves_bytes_and_uses_fp16_peak():
    result = estimate(graph_cost(conv_matmul_model()), SLOW_TARGET, precision="fp16")
    conv_ms = CONV_FLOPS / 2e6 * 1e3  # 5.292 ms compute vs 1.804 ms memory
    matmul_ms = max(MATMUL_FLOPS / 2e6, MATMUL_ELEMENTS * 2 / 5e5) * 1e3  # 1.052 ms memory
    assert result["estimated_latency_ms"] == pytest.approx(conv_ms + matmul_ms, rel=1e-12)


def test_dynamic_batch_is_fixed_by_input_shapes():
    cost = graph_cost(conv_matmul_model("batch"), {"X": (3, 3, 7, 7)})
    assert {n.name: n.flops for n in cost.nodes}["conv"] == 3 * CONV_FLOPS


def test_dynamic_input_without_shape_is_a_usage_error():
    with pytest.raises(UsageError, match="dynamic dimensions"):
        graph_cost(conv_matmul_model("batch"))


def test_unknown_op_is_reported_unmodelled():
    model = conv_matmul_model()
    model.graph.node.append(helper.make_node("Einsum", ["C", "C"], ["D"], name="einsum", equation="ij,ij->ij"))
    model.graph.output.append(helper.make_tensor_value_info("D", TensorProto.FLOAT, None))
    assert graph_cost(model).unmodelled_ops == ["Einsum"]


@pytest.mark.parametrize(
    "n_tokens,m_tokens", [(49, 49), (63, 197)], ids=["n49-m49", "n63-m197"]
)
def test_edgeattn_multi_head_attention_flops(n_tokens: int, m_tokens: int):
    batch, heads, dim, dim_v = 2, 3, 16, 8
    graph = helper.make_graph(
        [helper.make_node("MultiHeadAttention", ["q", "k", "v"], ["o"], name="mha", domain="edgeattn")],
        "mha",
        [helper.make_tensor_value_info("q", TensorProto.FLOAT, [batch, heads, n_tokens, dim]),
         helper.make_tensor_value_info("k", TensorProto.FLOAT, [batch, heads, m_tokens, dim]),
         helper.make_tensor_value_info("v", TensorProto.FLOAT, [batch, heads, m_tokens, dim_v])],
        [helper.make_tensor_value_info("o", TensorProto.FLOAT, [batch, heads, n_tokens, dim_v])],
    )
    model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18), helper.make_opsetid("edgeattn", 1)])
    scores = batch * heads * n_tokens * m_tokens
    expected = 2 * scores * dim + 2 * scores * dim_v + 5 * scores  # q.k, softmax, p.v: the op's one FLOP model
    assert graph_cost(model).nodes[0].flops == expected


def test_estimate_rejects_unknown_precision():
    with pytest.raises(UsageError, match="precision"):
        estimate(graph_cost(conv_matmul_model()), SLOW_TARGET, precision="fp8")
