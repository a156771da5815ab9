"""Triton LargeKernelAttention (VAN): DW K0xK0 then DW K1xK1 with dilation, fused in one kernel.

Each program owns a band of BAND rows of one (batch, channel) plane. Phase 1 evaluates the first
depthwise convolution on the band plus a halo of DILATION * (K1 // 2) rows into a private slice
of a workspace (rows outside the image are stored as zeros: the second conv pads the first conv's
output, as in the reference). After a CTA barrier, phase 2 evaluates the dilated convolution from
that slice (read with `.cg`, i.e. through L2, never a stale L1 line). Each output costs
K0*K0 + K1*K1 multiply-adds plus the halo rows' share; the intermediate never leaves the
program's workspace slice (about BAND + 2 * halo rows per band; sized by `workspace_elements`,
which a TensorRT plugin reports as its workspace).
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
    raise_if_refused,
    verdict,
)

BAND_ROWS = 16
"""Output rows per program; the halo recomputation costs (BAND + 2 * halo) / BAND of phase 1."""


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
    BANDS,
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
    work_ptr,
    K0: tl.constexpr,
    K1: tl.constexpr,
    DILATION: tl.constexpr,
    BAND: tl.constexpr,
    TAPS0: tl.constexpr,
    TAPS1: tl.constexpr,
    BLOCK: tl.constexpr,
):
    """Grid (B * C * BANDS,); fp32 math and workspace, output in x's dtype."""
    pid = tl.program_id(0)
    plane = pid // BANDS
    b = plane // C
    c = plane % C
    HALO: tl.constexpr = DILATION * (K1 // 2)
    MID_ROWS: tl.constexpr = BAND + 2 * HALO
    row0 = (pid % BANDS) * BAND
    x_base = x_ptr + b * s_xb + c * s_xc
    work = work_ptr + pid.to(tl.int64) * MID_ROWS * W

    taps0 = tl.arange(0, TAPS0)
    tap0_ok = taps0 < K0 * K0
    dy0 = taps0 // K0 - K0 // 2
    dx0 = taps0 % K0 - K0 // 2
    w0 = tl.load(w0_ptr + c * s_w0c + (taps0 // K0) * s_w0h + (taps0 % K0) * s_w0w, mask=tap0_ok)
    w0 = tl.where(tap0_ok, w0.to(tl.float32), 0.0)
    bias0 = tl.load(b0_ptr + c * s_b0).to(tl.float32)
    for start in range(0, MID_ROWS * W, BLOCK):
        idx = start + tl.arange(0, BLOCK)
        in_work = idx < MID_ROWS * W
        row = row0 - HALO + idx // W
        col = idx % W
        in_image = in_work & (row >= 0) & (row < H)
        rows = row[:, None] + dy0[None, :]
        cols = col[:, None] + dx0[None, :]
        inside = in_image[:, None] & tap0_ok[None, :] & (rows >= 0) & (rows < H)
        inside = inside & (cols >= 0) & (cols < W)
        v = tl.load(x_base + rows * s_xh + cols * s_xw, mask=inside, other=0.0)
        mid = tl.sum(v.to(tl.float32) * w0[None, :], 1) + bias0
        tl.store(work + idx, tl.where(in_image, mid, 0.0), mask=in_work)
    tl.debug_barrier()

    taps1 = tl.arange(0, TAPS1)
    tap1_ok = taps1 < K1 * K1
    dy1 = (taps1 // K1 - K1 // 2) * DILATION
    dx1 = (taps1 % K1 - K1 // 2) * DILATION
    w1 = tl.load(w1_ptr + c * s_w1c + (taps1 // K1) * s_w1h + (taps1 % K1) * s_w1w, mask=tap1_ok)
    w1 = tl.where(tap1_ok, w1.to(tl.float32), 0.0)
    bias1 = tl.load(b1_ptr + c * s_b1).to(tl.float32)
    for start in range(0, BAND * W, BLOCK):
        idx = start + tl.arange(0, BLOCK)
        band_row = idx // W
        x = idx % W
        y = row0 + band_row
        valid = (idx < BAND * W) & (y < H)
        rows = band_row[:, None] + HALO + dy1[None, :]
        cols = x[:, None] + dx1[None, :]
        inside = valid[:, None] & tap1_ok[None, :] & (cols >= 0) & (cols < W)
        mid = tl.load(work + rows * W + cols, mask=inside, other=0.0, cache_modifier=".cg")
        out = tl.sum(mid * w1[None, :], 1) + bias1
        tl.store(
            o_ptr + b * s_ob + c * s_oc + y * s_oh + x * s_ow,
            out.to(o_ptr.dtype.element_ty),
            mask=valid,
        )


def _bands(height: int) -> tuple[int, int]:
    band = min(height, BAND_ROWS)
    return band, triton.cdiv(height, band)


def workspace_elements(x_shape: tuple[int, ...], k1: int, dilation: int) -> int:
    """fp32 workspace elements the fused kernel needs for input shape [B, C, H, W]."""
    batch, channels, height, width = x_shape
    band, bands = _bands(height)
    return batch * channels * bands * (band + 2 * dilation * (k1 // 2)) * width


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
    return verdict(
        _shape_refusal(x, w0, b0, w1, b1, dilation)
        or dtype_refusal(tensors, FLOAT_DTYPES)
        or device_refusal(tensors.values(), large_kernel_attention_kernel)
    )


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
    raise_if_refused("LargeKernelAttention", can_run(x, w0, b0, w1, b1, dilation))
    out = torch.empty_like(x) if out is None else out
    batch, channels, height, width = x.shape
    band, bands = _bands(height)
    k0, k1 = w0.shape[-1], w1.shape[-1]
    work = torch.empty(
        workspace_elements(tuple(x.shape), k1, int(dilation)), dtype=torch.float32, device=x.device
    )
    large_kernel_attention_kernel[(batch * channels * bands,)](
        x,
        w0,
        b0,
        w1,
        b1,
        channels,
        height,
        width,
        bands,
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
        work,
        K0=k0,
        K1=k1,
        DILATION=int(dilation),
        BAND=band,
        TAPS0=block(k0 * k0, 16),
        TAPS1=block(k1 * k1, 16),
        BLOCK=64,
    )
    return out
