"""Triton MultiHeadAttention: one pass, online softmax, optional additive bias and key mask.

Bias ([H, N, M] broadcast over batch, or [B, H, N, M]) and the key mask ([B, M], bool or int32) are read
inside the kernel through their strides; a query whose keys are all masked yields zeros, as in
the reference.
"""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.kernels.attention import (
    MAX_HEAD_DIM,
    attention_forward,
    attention_fwd_kernel,
    attention_int8_forward,
    attention_int8_kernel,
)
from edgeattn.kernels.runtime import (
    device_refusal,
    float_qkv_refusal,
    int8_attention_refusal,
    int8_output,
    raise_if_refused,
    verdict,
)

MASK_DTYPES = (torch.bool, torch.int32)
"""key_mask: bool, or int32 (what the TensorRT plugin receives; non-zero = valid)."""


def _shape_refusal(
    q: Tensor, k: Tensor, v: Tensor, attn_bias: Tensor | None, key_mask: Tensor | None
) -> str:
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        return "q, k and v must be 4-D [B, H, tokens, D]"
    batch, heads, n, d = q.shape
    m = k.shape[2]
    if tuple(k.shape) != (batch, heads, m, d):
        return f"k {tuple(k.shape)} must be [B, H, M, D] with B, H, D of q {tuple(q.shape)}"
    if tuple(v.shape[:3]) != (batch, heads, m):
        return f"v {tuple(v.shape)} must be [B, H, M, Dv] with B, H, M of k {tuple(k.shape)}"
    if d > MAX_HEAD_DIM:
        return f"head dim {d} exceeds the kernel limit {MAX_HEAD_DIM}"
    if 0 in (*q.shape, m, v.shape[3]):
        return "empty tensors are not supported"
    if attn_bias is not None and tuple(attn_bias.shape) not in (
        (heads, n, m),
        (batch, heads, n, m),
    ):
        return f"attn_bias {tuple(attn_bias.shape)} must be [H, N, M] or [B, H, N, M]"
    if key_mask is not None and (
        key_mask.dtype not in MASK_DTYPES or tuple(key_mask.shape) != (batch, m)
    ):
        got = f"{key_mask.dtype} {tuple(key_mask.shape)}"
        return f"key_mask must be bool or int32 [B, M] = [{batch}, {m}], got {got}"
    return ""


def can_run(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    attn_bias: Tensor | None = None,
    key_mask: Tensor | None = None,
) -> tuple[bool, str]:
    """Whether the fp32/fp16 kernel accepts these inputs, and why not."""
    return verdict(
        _shape_refusal(q, k, v, attn_bias, key_mask)
        or float_qkv_refusal(q, k, v, attn_bias=attn_bias)
        or device_refusal((q, k, v, attn_bias, key_mask), attention_fwd_kernel)
    )


def multi_head_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    attn_bias: Tensor | None = None,
    key_mask: Tensor | None = None,
    out: Tensor | None = None,
) -> Tensor:
    """Per-head softmax attention; q [B,H,N,D], k [B,H,M,D], v [B,H,M,Dv] -> [B,H,N,Dv]."""
    raise_if_refused("MultiHeadAttention", can_run(q, k, v, scale, attn_bias, key_mask))
    if out is None:
        out = torch.empty((*q.shape[:3], v.shape[3]), dtype=v.dtype, device=v.device)
    return attention_forward(q, k, v, out, scale, attn_bias, key_mask)


def can_run_int8(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    q_scale: Tensor,
    k_scale: Tensor,
    v_scale: Tensor | None = None,
    p_scale: Tensor | None = None,
    attn_bias: Tensor | None = None,
    key_mask: Tensor | None = None,
) -> tuple[bool, str]:
    """Whether the INT8 kernel accepts these inputs, and why not."""
    scales = {"q_scale": q_scale, "k_scale": k_scale, "v_scale": v_scale, "p_scale": p_scale}
    return verdict(
        _shape_refusal(q, k, v, attn_bias, key_mask)
        or int8_attention_refusal(q, k, v, scales, q.shape[1])
        or device_refusal((q, k, v, attn_bias, key_mask), attention_int8_kernel)
    )


def multi_head_attention_int8(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    q_scale: Tensor,
    k_scale: Tensor,
    v_scale: Tensor | None = None,
    p_scale: Tensor | None = None,
    attn_bias: Tensor | None = None,
    key_mask: Tensor | None = None,
    out: Tensor | None = None,
    scores: Tensor | None = None,
) -> Tensor:
    """INT8 MultiHeadAttention: int8 q, k, per-head scales [H]; v int8 (v_scale, p_scale) or float.

    Output is float16 for int8 v, else v's dtype. `scores` ([B, H, N, M] int32) receives the
    int32 Q.K^T accumulators when given.
    """
    raise_if_refused(
        "MultiHeadAttention INT8",
        can_run_int8(q, k, v, scale, q_scale, k_scale, v_scale, p_scale, attn_bias, key_mask),
    )
    out = int8_output(v, (*q.shape[:3], v.shape[3])) if out is None else out
    return attention_int8_forward(
        q, k, v, out, scale, q_scale, k_scale, v_scale, p_scale, attn_bias, key_mask, scores
    )
