"""MultiHeadAttention in ONNX: schema, shape rule, portable decomposition, plugin node."""

from __future__ import annotations

import onnx
from onnxscript import opset18 as op

from edgeattn.ops._onnx_common import (
    PLUGIN_ATTRIBUTES,
    Attribute,
    Input,
    cast_like_input,
    edgeattn_opset,
    register_schema,
    static_dim,
    to_float,
)

OP_TYPE = "MultiHeadAttention"

SCHEMA = register_schema(
    OP_TYPE,
    "Per-head softmax attention: softmax(scale * q k^T + attn_bias, keys masked by key_mask) v. "
    "Only present optional inputs are wired, in order; has_attn_bias/has_key_mask say which.",
    inputs=[
        Input("q", doc="queries [B, H, N, D]"),
        Input("k", doc="keys [B, H, M, D]"),
        Input("v", doc="values [B, H, M, Dv]"),
        Input("attn_bias", doc="additive bias [H, N, M] or [B, H, N, M]", optional=True),
        Input("key_mask", "TMask", doc="[B, M], true (non-zero) = valid key; int32 in plugin graphs", optional=True),
    ],
    attributes=[
        Attribute("num_heads", int, "H"),
        Attribute("scale", float, "multiplier of q.k before bias and softmax"),
        Attribute("has_attn_bias", int, "1 when the attn_bias input is present"),
        Attribute("has_key_mask", int, "1 when the key_mask input is present"),
    ],
    type_constraints=[
        ("T", ["tensor(float)", "tensor(float16)", "tensor(bfloat16)"], "float tensors"),
        ("TMask", ["tensor(bool)", "tensor(int32)"], "key mask (TensorRT plugins cannot take bool inputs)"),
    ],
)


def output_shape(q: list[int], k: list[int], v: list[int]) -> list[int]:
    """Shape rule: [B, H, N, Dv]."""
    return [q[0], q[1], q[2], v[3]]


def portable(q, k, v, scale: float, attn_bias=None, key_mask=None):
    """Standard ONNX ops only: MatMul, Mul, Add, Where, Softmax (fp32 inside)."""
    qf, kf, vf = to_float(q), to_float(k), to_float(v)
    scores = op.MatMul(qf, op.Transpose(kf, perm=[0, 1, 3, 2]))
    scores = op.Mul(scores, op.Constant(value_float=scale))
    if attn_bias is not None:
        scores = op.Add(scores, to_float(attn_bias))
    if key_mask is not None:
        valid = op.Unsqueeze(key_mask, op.Constant(value_ints=[1, 2]))
        scores = op.Where(valid, scores, op.Constant(value_float=float("-inf")))
    attn = op.Softmax(scores, axis=-1)
    if key_mask is not None:
        any_valid = op.ReduceMax(
            op.Cast(valid, to=onnx.TensorProto.FLOAT), op.Constant(value_ints=[-1]), keepdims=1
        )
        attn = op.Where(
            op.Cast(any_valid, to=onnx.TensorProto.BOOL), attn, op.Constant(value_float=0.0)
        )
    return cast_like_input(op.MatMul(attn, vf), v)


def plugin(q, k, v, scale: float, attn_bias=None, key_mask=None):
    """One `edgeattn::MultiHeadAttention` node; optional inputs appended only when present, the key mask
    cast to int32 (TensorRT plugins take no kBOOL tensors)."""
    mask = op.Cast(key_mask, to=onnx.TensorProto.INT32) if key_mask is not None else None
    inputs = [q, k, v] + [x for x in (attn_bias, mask) if x is not None]
    return edgeattn_opset().MultiHeadAttention(
        *inputs,
        num_heads=static_dim(q, 1, "MultiHeadAttention"),
        scale=scale,
        has_attn_bias=int(attn_bias is not None),
        has_key_mask=int(key_mask is not None),
        **PLUGIN_ATTRIBUTES,
    )
