"""LargeKernelAttention in ONNX: schema, shape rule, portable decomposition, plugin node."""

from __future__ import annotations

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

OP_TYPE = "LargeKernelAttention"

SCHEMA = register_schema(
    OP_TYPE,
    "VAN large kernel attention, depthwise part: dw(w1, dilation)(dw(w0)(x)); both depthwise convs "
    "zero-padded 'same' (K0 // 2, then dilation * (K1 // 2)). The 1x1 conv and the gating multiply "
    "with the LKA input stay outside as standard Conv and Mul.",
    inputs=[
        Input("x", doc="input [B, C, H, W]"),
        Input("w0", doc="first depthwise weight [C, 1, K0, K0] (VAN: K0 = 5)"),
        Input("b0", doc="its bias [C]"),
        Input("w1", doc="second, dilated depthwise weight [C, 1, K1, K1] (VAN: K1 = 7)"),
        Input("b1", doc="its bias [C]"),
    ],
    attributes=[Attribute("dilation", int, "dilation of the second depthwise conv (VAN: 3)")],
)


def output_shape(x: list[int], w0, b0, w1, b1) -> list[int]:
    """Shape rule: x's shape."""
    return list(x)


def portable(x, w0, b0, w1, b1, dilation: int):
    """Standard ONNX ops only: two depthwise Conv (the second dilated), fp32 inside."""
    channels = static_dim(x, 1, OP_TYPE)
    k0 = static_dim(w0, 3, OP_TYPE)
    k1 = static_dim(w1, 3, OP_TYPE)
    pad0, pad1 = k0 // 2, dilation * (k1 // 2)
    out = op.Conv(
        to_float(x), to_float(w0), to_float(b0),
        group=channels, kernel_shape=[k0, k0], pads=[pad0] * 4,
    )
    out = op.Conv(
        out, to_float(w1), to_float(b1),
        group=channels, kernel_shape=[k1, k1], pads=[pad1] * 4, dilations=[dilation, dilation],
    )
    return cast_like_input(out, x)


def plugin(x, w0, b0, w1, b1, dilation: int):
    """One `edgeattn::LargeKernelAttention` node; the depthwise weights are initializer inputs."""
    return edgeattn_opset().LargeKernelAttention(x, w0, b0, w1, b1, dilation=dilation, **PLUGIN_ATTRIBUTES)
