"""DFCAttention in ONNX: schema, shape rule, portable decomposition, plugin node."""

from __future__ import annotations

from onnxscript import opset18 as op

from edgeattn.ops._onnx_common import (
    PLUGIN_ATTRIBUTES,
    Input,
    cast_like_input,
    edgeattn_opset,
    register_schema,
    static_dim,
    to_float,
)

OP_TYPE = "DFCAttention"

SCHEMA = register_schema(
    OP_TYPE,
    "GhostNetV2 DFC gate: features * nearest_resize(sigmoid(dw_v(dw_h(gate))), features' H, W); "
    "depthwise (1,K) then (K,1) convolutions with zero 'same' padding; nearest index floor(i*h/H).",
    inputs=[
        Input("gate", doc="pooled, 1x1-projected features [B, C, h, w]"),
        Input("w_h", doc="depthwise horizontal weight [C, 1, 1, K] (BN folded)"),
        Input("b_h", doc="its bias [C]"),
        Input("w_v", doc="depthwise vertical weight [C, 1, K, 1] (BN folded)"),
        Input("b_v", doc="its bias [C]"),
        Input("features", doc="tensor to gate [B, C, H, W]"),
    ],
    attributes=[],
)


def output_shape(gate: list[int], w_h, b_h, w_v, b_v, features: list[int]) -> list[int]:
    """Shape rule: the features' shape."""
    return list(features)


def portable(gate, w_h, b_h, w_v, b_v, features):
    """Standard ONNX ops only: two depthwise Conv, Sigmoid, Resize (nearest, asymmetric, floor), Mul."""
    channels = static_dim(gate, 1, "DFCAttention")
    kw = static_dim(w_h, 3, "DFCAttention")
    kh = static_dim(w_v, 2, "DFCAttention")
    x = op.Conv(
        to_float(gate), to_float(w_h), to_float(b_h),
        group=channels, kernel_shape=[1, kw], pads=[0, kw // 2, 0, kw // 2],
    )
    x = op.Conv(
        x, to_float(w_v), to_float(b_v),
        group=channels, kernel_shape=[kh, 1], pads=[kh // 2, 0, kh // 2, 0],
    )
    attn = op.Resize(
        op.Sigmoid(x),
        None,
        None,
        op.Shape(features),
        mode="nearest",
        coordinate_transformation_mode="asymmetric",
        nearest_mode="floor",
    )
    return cast_like_input(op.Mul(to_float(features), attn), features)


def plugin(gate, w_h, b_h, w_v, b_v, features):
    """One `edgeattn::DFCAttention` node; the folded weights are initializer inputs."""
    return edgeattn_opset().DFCAttention(gate, w_h, b_h, w_v, b_v, features, **PLUGIN_ATTRIBUTES)
