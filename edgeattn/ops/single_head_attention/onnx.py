"""SingleHeadAttention in ONNX: schema, shape rule, portable decomposition, plugin node."""

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

OP_TYPE = "SingleHeadAttention"

SCHEMA = register_schema(
    OP_TYPE,
    "Single-head softmax attention over N channel-first tokens (SHViT SHSA): "
    "out[b,:,i] = sum_j softmax_j(scale * q[b,:,i].k[b,:,j]) v[b,:,j].",
    inputs=[
        Input("q", doc="queries [B, Dqk, N]"),
        Input("k", doc="keys [B, Dqk, N]"),
        Input("v", doc="values [B, Dv, N]"),
    ],
    attributes=[Attribute("scale", float, "multiplier of q.k before the softmax")],
)


def output_shape(q: list[int], k: list[int], v: list[int]) -> list[int]:
    """Shape rule: [B, Dv, N]."""
    return [v[0], v[1], q[2]]


def portable(q, k, v, scale: float):
    """Standard ONNX ops only: Transpose, MatMul, Mul, Softmax (fp32 inside)."""
    qf, kf, vf = to_float(q), to_float(k), to_float(v)
    scores = op.MatMul(op.Transpose(qf, perm=[0, 2, 1]), kf)
    scores = op.Mul(scores, op.Constant(value_float=scale))
    attn = op.Softmax(scores, axis=-1)
    out = op.MatMul(vf, op.Transpose(attn, perm=[0, 2, 1]))
    return cast_like_input(out, v)


def plugin(q, k, v, scale: float):
    """One `edgeattn::SingleHeadAttention` node."""
    return edgeattn_opset().SingleHeadAttention(q, k, v, scale=scale, **PLUGIN_ATTRIBUTES)
