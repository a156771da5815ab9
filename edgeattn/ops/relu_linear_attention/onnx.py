"""ReLULinearAttention in ONNX: schema, shape rule, portable decomposition, plugin node."""

from __future__ import annotations

from onnxscript import opset18 as op

from edgeattn.ops._onnx_common import (
    PLUGIN_ATTRIBUTES,
    Attribute,
    Input,
    cast_like_input,
    edgeattn_opset,
    register_schema,
    to_float,
)

OP_TYPE = "ReLULinearAttention"

SCHEMA = register_schema(
    OP_TYPE,
    "ReLU linear attention (EfficientViT LiteMLA): (relu(q) (relu(k)^T v)) / "
    "(relu(q) (relu(k)^T 1) + eps); state, normaliser and division in fp32.",
    inputs=[
        Input("q", doc="queries [B, H, N, D] (before ReLU)"),
        Input("k", doc="keys [B, H, N, D] (before ReLU)"),
        Input("v", doc="values [B, H, N, Dv]"),
    ],
    attributes=[Attribute("eps", float, "added to the normaliser")],
)


def output_shape(q: list[int], k: list[int], v: list[int]) -> list[int]:
    """Shape rule: [B, H, N, Dv]."""
    return [q[0], q[1], q[2], v[3]]


def portable(q, k, v, eps: float):
    """Standard ONNX ops only: Relu, MatMul, ReduceSum, Add, Div, all in fp32."""
    qf, kf, vf = op.Relu(to_float(q)), op.Relu(to_float(k)), to_float(v)
    k_t = op.Transpose(kf, perm=[0, 1, 3, 2])
    numerator = op.MatMul(qf, op.MatMul(k_t, vf))
    k_sum = op.ReduceSum(k_t, op.Constant(value_ints=[-1]), keepdims=1)
    denominator = op.Add(op.MatMul(qf, k_sum), op.Constant(value_float=eps))
    return cast_like_input(op.Div(numerator, denominator), v)


def plugin(q, k, v, eps: float):
    """One `edgeattn::ReLULinearAttention` node."""
    return edgeattn_opset().ReLULinearAttention(q, k, v, eps=eps, **PLUGIN_ATTRIBUTES)
