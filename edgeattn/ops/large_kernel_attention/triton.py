"""Triton LargeKernelAttention (VAN): DW K0xK0 then DW K1xK1 with dilation, fused in one kernel.

Each program owns a block of output pixels of one (batch, channel) plane and evaluates, for each
of the K1*K1 dilated taps, the first depthwise convolution at that tap's position (zero padding of
the input, and zero padding of the intermediate map outside the image, as in the reference). The
intermediate map never touches memory; the price is K0*K0*K1*K1 multiply-adds per output (mostly
L1 hits, the K0*K0 taps loaded as one vector), which suits VAN's small later-stage planes best.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from edgeattn.kernels.runtime import (
    FLOAT_DTYPES,
    block,
    device_refusal,
    dtype_refusal,
    raise_refusal,
)


@triton.jit
def large_kernel_attention_kernel(
    x_ptr,
    w0_ptr,
    b0_ptr,
    w1_ptr,
    b1_ptr,
    C,
    H,
    W,
    s_xb,
    s_xc,
    s_xh,
    s_xw,
    s_w0c,
    s_w0h,
    s_w0w,
    s_w1c,
    s_w1h,
    s_w1w,
    s_b0,
    s_b1,
    s_ob,
    s_oc,
    s_oh,
    s_ow,
    o_ptr,
    K0: tl.constexpr,
    K1: tl.constexpr,
    DILATION: tl.constexpr,
    TAPS: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Grid (B * C, cdiv(H * W, BLOCK)); the K0*K0 taps form one vector (TAPS >= K0*K0)."""
    pid_bc = tl.program_id(0)
    pid_p = tl.program_id(1)
    b = pid_bc // C
    c = pid_bc % C
    offs = pid_p * BLOCK + tl.arange(0, BLOCK)
    valid = offs < H * W
    y = offs // W
    x = offs % W
    x_base = x_ptr + b * s_xb + c * s_xc
    taps = tl.arange(0, TAPS)
    tap_ok = taps < K0 * K0
    tap_y = taps // K0 - K0 // 2
    tap_x = taps % K0 - K0 // 2
    w0 = tl.load(
        w0_ptr + c * s_w0c + (taps // K0) * s_w0h + (taps % K0) * s_w0w, mask=tap_ok, other=0.0
    ).to(tl.float32)
    bias0 = tl.load(b0_ptr + c * s_b0).to(tl.float32)
    acc = tl.zeros([BLOCK], tl.float32) + tl.load(b1_ptr + c * s_b1).to(tl.float32)
    for a in range(K1):
        my = y + (a - K1 // 2) * DILATION
        for e in range(K1):
            mx = x + (e - K1 // 2) * DILATION
            mid_ok = valid & (my >= 0) & (my < H) & (mx >= 0) & (mx < W)
            row = my[:, None] + tap_y[None, :]
            col = mx[:, None] + tap_x[None, :]
            inside = (
                mid_ok[:, None] & tap_ok[None, :] & (row >= 0) & (row < H) & (col >= 0) & (col < W)
            )
            v = tl.load(x_base + row * s_xh + col * s_xw, mask=inside, other=0.0)
            mid = tl.sum(v.to(tl.float32) * w0[None, :], 1) + bias0
            w1 = tl.load(w1_ptr + c * s_w1c + a * s_w1h + e * s_w1w).to(tl.float32)
            acc += w1 * tl.where(mid_ok, mid, 0.0)
    tl.store(
        o_ptr + b * s_ob + c * s_oc + y * s_oh + x * s_ow,
        acc.to(o_ptr.dtype.element_ty),
        mask=valid,
    )


def _shape_refusal(x: Tensor, w0: Tensor, b0: Tensor, w1: Tensor, b1: Tensor, dilation: int) -> str:
    if x.dim() != 4:
        return "x must be 4-D [B, C, H, W]"
    channels = x.shape[1]
    for name, weight in (("w0", w0), ("w1", w1)):
        k = weight.shape[-1]
        if weight.dim() != 4 or tuple(weight.shape) != (channels, 1, k, k) or k % 2 == 0:
            shape = tuple(weight.shape)
            return f"{name} {shape} must be a depthwise [C, 1, K, K] weight, odd K, C={channels}"
    for name, bias in (("b0", b0), ("b1", b1)):
        if tuple(bias.shape) != (channels,):
            return f"{name} {tuple(bias.shape)} must be [C] with C={channels}"
    if int(dilation) < 1:
        return f"dilation must be >= 1, got {dilation}"
    if 0 in x.shape:
        return "empty tensors are not supported"
    return ""


def can_run(
    x: Tensor, w0: Tensor, b0: Tensor, w1: Tensor, b1: Tensor, dilation: int = 3
) -> tuple[bool, str]:
    """Whether the fused kernel accepts these inputs, and why not."""
    tensors = {"x": x, "w0": w0, "b0": b0, "w1": w1, "b1": b1}
    reason = (
        _shape_refusal(x, w0, b0, w1, b1, dilation)
        or dtype_refusal(tensors, FLOAT_DTYPES)
        or device_refusal(tensors.values(), large_kernel_attention_kernel)
    )
    return (not reason, reason or "ok")


def large_kernel_attention(
    x: Tensor,
    w0: Tensor,
    b0: Tensor,
    w1: Tensor,
    b1: Tensor,
    dilation: int = 3,
    out: Tensor | None = None,
) -> Tensor:
    """dw(w1, dilation)(dw(w0)(x)) with zero 'same' padding, fused; x [B, C, H, W], x's dtype."""
    ok, reason = can_run(x, w0, b0, w1, b1, dilation)
    raise_refusal("LargeKernelAttention", "" if ok else reason)
    out = torch.empty_like(x) if out is None else out
    batch, channels, height, width = x.shape
    pixels = block(height * width, 16, 128)
    large_kernel_attention_kernel[(batch * channels, triton.cdiv(height * width, pixels))](
        x,
        w0,
        b0,
        w1,
        b1,
        channels,
        height,
        width,
        *x.stride(),
        w0.stride(0),
        w0.stride(2),
        w0.stride(3),
        w1.stride(0),
        w1.stride(2),
        w1.stride(3),
        b0.stride(0),
        b1.stride(0),
        *out.stride(),
        out,
        K0=w0.shape[-1],
        K1=w1.shape[-1],
        DILATION=int(dilation),
        TAPS=block(w0.shape[-1] ** 2, 16),
        BLOCK=pixels,
    )
    return out
