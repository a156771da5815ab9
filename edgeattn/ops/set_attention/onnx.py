"""SetAttention in ONNX: schema, shape rule, portable decomposition, plugin node."""

from __future__ import annotations

from onnx import TensorProto
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

OP_TYPE = "SetAttention"
INT32 = TensorProto.INT32

SCHEMA = register_schema(
    OP_TYPE,
    "Attention inside fixed-size voxel sets (DSVT): gather q, k, v [N, C] into [S, T, C] sets by "
    "set_inds, per-head softmax attention with invalid (duplicate) keys masked, then gather the "
    "output back to voxel order by voxel_slot (flat slot s*T + t). Projections stay outside.",
    inputs=[
        Input("q", doc="queries [N, C], C = num_heads * head_dim"),
        Input("k", doc="keys [N, C]"),
        Input("v", doc="values [N, C]"),
        Input("set_inds", "TInd", doc="voxel index of every set slot [S, T]"),
        Input("set_valid", "TMask", doc="[S, T], false (0) = masked duplicate key; int32 in plugin graphs"),
        Input("voxel_slot", "TInd", doc="flat slot holding each voxel's output [N]"),
    ],
    attributes=[
        Attribute("num_heads", int, "H"),
        Attribute("scale", float, "multiplier of q.k before softmax"),
    ],
    type_constraints=[
        ("T", ["tensor(float)", "tensor(float16)", "tensor(bfloat16)"], "float tensors"),
        ("TInd", ["tensor(int64)", "tensor(int32)"], "indices"),
        ("TMask", ["tensor(bool)", "tensor(int32)"], "key mask (TensorRT plugins cannot take bool inputs)"),
    ],
)


def output_shape(q: list[int], set_inds: list[int], voxel_slot: list[int]) -> list[int]:
    """Shape rule: [N, C] with N from voxel_slot and C from q."""
    return [voxel_slot[0], q[1]]


def portable(q, k, v, set_inds, set_valid, voxel_slot, num_heads: int, scale: float):
    """Standard ONNX ops only: Gather, Reshape, Transpose, MatMul, Where, Softmax (fp32 inside).

    Sets with no valid key (never produced by the partition) give NaN where the reference gives 0;
    no voxel reads such a slot because each voxel's own slot is valid.
    """
    channels = static_dim(q, 1, OP_TYPE)
    head_dim = channels // num_heads
    flat = op.Reshape(set_inds, op.Constant(value_ints=[-1]))
    set_shape = op.Concat(op.Shape(set_inds), op.Constant(value_ints=[num_heads, head_dim]), axis=0)

    def to_sets(x):
        return op.Transpose(op.Reshape(op.Gather(to_float(x), flat, axis=0), set_shape), perm=[0, 2, 1, 3])

    scores = op.Mul(op.MatMul(to_sets(q), op.Transpose(to_sets(k), perm=[0, 1, 3, 2])),
                    op.Constant(value_float=scale))
    valid = op.Unsqueeze(set_valid, op.Constant(value_ints=[1, 2]))
    scores = op.Where(valid, scores, op.Constant(value_float=float("-inf")))
    out = op.MatMul(op.Softmax(scores, axis=-1), to_sets(v))
    out = op.Reshape(op.Transpose(out, perm=[0, 2, 1, 3]), op.Constant(value_ints=[-1, channels]))
    out = op.Gather(out, op.Reshape(voxel_slot, op.Constant(value_ints=[-1])), axis=0)
    return cast_like_input(out, v)


def plugin(q, k, v, set_inds, set_valid, voxel_slot, num_heads: int, scale: float):
    """One `edgeattn::SetAttention` node, its key mask cast to int32: TensorRT plugins take no kBOOL
    tensors (PluginTensorDesc: "DataType::kBOOL and DataType::kUINT8 are not supported")."""
    return edgeattn_opset().SetAttention(
        q, k, v, set_inds, op.Cast(set_valid, to=INT32), voxel_slot,
        num_heads=num_heads,
        scale=scale,
        **PLUGIN_ATTRIBUTES,
    )
