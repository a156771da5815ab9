"""Triton DFCAttention (GhostNetV2): both depthwise convs, sigmoid, nearest resize and gating fused.

One program per (batch, channel) plane. Phase 1 evaluates the (1, K) then (K, 1) depthwise
convolutions (zero 'same' padding of the gate and of the intermediate map) and the sigmoid once
per pooled-gate pixel into the program's private workspace slice (h * w fp32 values; sized by
`workspace_elements`, which a TensorRT plugin reports as its workspace). After a CTA barrier,
phase 2 streams the features: each output pixel reads its nearest source pixel's gate value
(PyTorch's rule src = min(floor(dst * in/out), in - 1) in fp32, exactly as PyTorch computes it, so
odd sizes match; read with `.cg`, through L2) and multiplies. Features are read once and written
once; the gate maps never leave the workspace slice.
"""

from __future__ import annotations

import numpy as np
import torch
import triton
import triton.language as tl
from torch import Tensor

from edgeattn.kernels.runtime import (
    FLOAT_DTYPES,
    block,
    device_refusal,
    dtype_refusal,
    raise_if_refused,
    verdict,
)


@triton.jit
def dfc_attention_kernel(
    gate_ptr,
    w_h_ptr,
    b_h_ptr,
    w_v_ptr,
    b_v_ptr,
    feat_ptr,
    C,
    GH,
    GW,
    OH,
    OW,
    s_gb,
    s_gc,
    s_gh,
    s_gw,
    s_whc,
    s_whk,
    s_wvc,
    s_wvk,
    s_bh,
    s_bv,
    s_fb,
    s_fc,
    s_fh,
    s_fw,
    s_ob,
    s_oc,
    s_oh,
    s_ow,
    o_ptr,
    work_ptr,
    SCALE_H: tl.constexpr,
    SCALE_W: tl.constexpr,
    KH: tl.constexpr,
    KW: tl.constexpr,
    TAPS: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Grid (B * C,); fp32 math and workspace, output in the features' dtype."""
    plane = tl.program_id(0)
    b = plane // C
    c = plane % C
    gate_base = gate_ptr + b * s_gb + c * s_gc
    work = work_ptr + plane.to(tl.int64) * GH * GW

    taps = tl.arange(0, TAPS)
    tap_ok = taps < KW
    dx = taps - KW // 2
    w_h = tl.load(w_h_ptr + c * s_whc + taps * s_whk, mask=tap_ok)
    w_h = tl.where(tap_ok, w_h.to(tl.float32), 0.0)
    bias_h = tl.load(b_h_ptr + c * s_bh).to(tl.float32)
    bias_v = tl.load(b_v_ptr + c * s_bv).to(tl.float32)
    for start in range(0, GH * GW, BLOCK):
        idx = start + tl.arange(0, BLOCK)
        in_gate = idx < GH * GW
        row = idx // GW
        col = idx % GW
        cols = col[:, None] + dx[None, :]
        col_ok = in_gate[:, None] & tap_ok[None, :] & (cols >= 0) & (cols < GW)
        attn = tl.zeros([BLOCK], tl.float32) + bias_v
        for i in tl.static_range(KH):
            r = row + (i - KH // 2)
            row_ok = (r >= 0) & (r < GH)
            g = tl.load(gate_base + r[:, None] * s_gh + cols * s_gw, mask=col_ok & row_ok[:, None])
            g = tl.where(col_ok & row_ok[:, None], g.to(tl.float32), 0.0)
            horizontal = tl.sum(g * w_h[None, :], 1) + bias_h
            w_v = tl.load(w_v_ptr + c * s_wvc + i * s_wvk).to(tl.float32)
            attn += w_v * tl.where(row_ok, horizontal, 0.0)
        tl.store(work + idx, tl.sigmoid(attn), mask=in_gate)
    tl.debug_barrier()

    for start in range(0, OH * OW, BLOCK):
        offs = start + tl.arange(0, BLOCK)
        valid = offs < OH * OW
        y = offs // OW
        x = offs % OW
        sy = tl.minimum(tl.floor(y.to(tl.float32) * SCALE_H).to(tl.int32), GH - 1)
        sx = tl.minimum(tl.floor(x.to(tl.float32) * SCALE_W).to(tl.int32), GW - 1)
        attn = tl.load(work + sy * GW + sx, mask=valid, other=0.0, cache_modifier=".cg")
        f = tl.load(feat_ptr + b * s_fb + c * s_fc + y * s_fh + x * s_fw, mask=valid, other=0.0)
        tl.store(
            o_ptr + b * s_ob + c * s_oc + y * s_oh + x * s_ow,
            (f.to(tl.float32) * attn).to(o_ptr.dtype.element_ty),
            mask=valid,
        )


def workspace_elements(gate_shape: tuple[int, ...]) -> int:
    """fp32 workspace elements the fused kernel needs for a gate of shape [B, C, h, w]."""
    batch, channels, height, width = gate_shape
    return batch * channels * height * width


def _shape_refusal(
    gate: Tensor, w_h: Tensor, b_h: Tensor, w_v: Tensor, b_v: Tensor, features: Tensor
) -> str:
    if gate.dim() != 4 or features.dim() != 4:
        return "gate and features must be 4-D [B, C, h, w] / [B, C, H, W]"
    batch, channels = gate.shape[:2]
    if tuple(features.shape[:2]) != (batch, channels):
        return f"features {tuple(features.shape)} must share B, C with gate {tuple(gate.shape)}"
    if w_h.dim() != 4 or tuple(w_h.shape[:3]) != (channels, 1, 1):
        return f"w_h {tuple(w_h.shape)} must be [C, 1, 1, K] with C={channels}"
    if w_v.dim() != 4 or tuple(w_v.shape[:2]) != (channels, 1) or w_v.shape[3] != 1:
        return f"w_v {tuple(w_v.shape)} must be [C, 1, K, 1] with C={channels}"
    if w_h.shape[3] % 2 == 0 or w_v.shape[2] % 2 == 0:
        return "kernel sizes must be odd ('same' zero padding K // 2)"
    if tuple(b_h.shape) != (channels,) or tuple(b_v.shape) != (channels,):
        return f"b_h {tuple(b_h.shape)} and b_v {tuple(b_v.shape)} must be [C] with C={channels}"
    if 0 in (*gate.shape, *features.shape):
        return "empty tensors are not supported"
    return ""


def can_run(
    gate: Tensor, w_h: Tensor, b_h: Tensor, w_v: Tensor, b_v: Tensor, features: Tensor
) -> tuple[bool, str]:
    """Whether the fused kernel accepts these inputs, and why not."""
    tensors = {"gate": gate, "w_h": w_h, "b_h": b_h, "w_v": w_v, "b_v": b_v, "features": features}
    return verdict(
        _shape_refusal(gate, w_h, b_h, w_v, b_v, features)
        or dtype_refusal(tensors, FLOAT_DTYPES)
        or device_refusal(tensors.values(), dfc_attention_kernel)
    )


def nearest_scale(in_size: int, out_size: int) -> float:
    """PyTorch's fp32 source/destination ratio for mode='nearest' with an explicit size."""
    return float(np.float32(in_size) / np.float32(out_size))


def dfc_attention(
    gate: Tensor,
    w_h: Tensor,
    b_h: Tensor,
    w_v: Tensor,
    b_v: Tensor,
    features: Tensor,
    out: Tensor | None = None,
) -> Tensor:
    """features * nearest_resize(sigmoid(dw_v(dw_h(gate))), (H, W)), fused; features' dtype."""
    raise_if_refused("DFCAttention", can_run(gate, w_h, b_h, w_v, b_v, features))
    out = torch.empty_like(features) if out is None else out
    batch, channels, gh, gw = gate.shape
    oh, ow = features.shape[2:]
    work = torch.empty(
        workspace_elements(tuple(gate.shape)), dtype=torch.float32, device=gate.device
    )
    dfc_attention_kernel[(batch * channels,)](
        gate,
        w_h,
        b_h,
        w_v,
        b_v,
        features,
        channels,
        gh,
        gw,
        oh,
        ow,
        *gate.stride(),
        w_h.stride(0),
        w_h.stride(3),
        w_v.stride(0),
        w_v.stride(2),
        b_h.stride(0),
        b_v.stride(0),
        *features.stride(),
        *out.stride(),
        out,
        work,
        SCALE_H=nearest_scale(gh, oh),
        SCALE_W=nearest_scale(gw, ow),
        KH=w_v.shape[2],
        KW=w_h.shape[3],
        TAPS=block(w_h.shape[3], 8),
        BLOCK=256,
    )
    return out
