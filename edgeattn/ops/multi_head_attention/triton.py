"""Triton MultiHeadAttention: one pass, online softmax, optional additive bias and key mask.

Bias ([H, N, M] broadcast over batch, or [B, H, N, M]) and the bool key mask ([B, M]) are read
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
    FLOAT_DTYPES,
    device_refusal,
    dtype_refusal,
    int8_attention_refusal,
    raise_refusal,
)


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
        key_mask.dtype != torch.bool or tuple(key_mask.shape) != (batch, m)
    ):
        got = f"{key_mask.dtype} {tuple(key_mask.shape)}"
        return f"key_mask must be bool [B, M] = [{batch}, {m}], got {got}"
    return ""


def _optional(*tensors: Tensor | None) -> tuple[Tensor, ...]:
    return tuple(t for t in tensors if t is not None)


def can_run(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    attn_bias: Tensor | None = None,
    key_mask: Tensor | None = None,
) -> tuple[bool, str]:
    """Whether the fp32/fp16 kernel accepts these inputs, and why not."""
    named = {"q": q, "k": k, "v": v, **({"attn_bias": attn_bias} if attn_bias is not None else {})}
    reason = (
        _shape_refusal(q, k, v, attn_bias, key_mask)
        or dtype_refusal(named, FLOAT_DTYPES)
        or ("" if q.dtype == k.dtype == v.dtype else "q, k and v must share one dtype")
        or device_refusal((q, k, v, *_optional(attn_bias, key_mask)), attention_fwd_kernel)
    )
    return (not reason, reason or "ok")


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
    ok, reason = can_run(q, k, v, scale, attn_bias, key_mask)
    raise_refusal("MultiHeadAttention", "" if ok else reason)
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
    reason = (
        _shape_refusal(q, k, v, attn_bias, key_mask)
        or int8_attention_refusal(
            q, k, v, {"q_scale": q_scale, "k_scale": k_scale, "v_scale": v_scale, "p_scale": p_scale},
            q.shape[1] if q.dim() == 4 else 1, FLOAT_DTYPES,
        )
        or device_refusal((q, k, v, *_optional(attn_bias, key_mask)), attention_int8_kernel)
    )
    return (not reason, reason or "ok")


def _per_head(scale: Tensor | None, heads: int) -> Tensor | None:
    return None if scale is None else scale.reshape(-1).expand(heads).contiguous()


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
    ok, reason = can_run_int8(
        q, k, v, scale, q_scale, k_scale, v_scale, p_scale, attn_bias, key_mask
    )
    raise_refusal("MultiHeadAttention INT8", "" if ok else reason)
    heads = q.shape[1]
    if out is None:
        dtype = torch.float16 if v.dtype == torch.int8 else v.dtype
        out = torch.empty((*q.shape[:3], v.shape[3]), dtype=dtype, device=v.device)
    return attention_int8_forward(
        q,
        k,
        v,
        out,
        scale,
        _per_head(q_scale, heads),
        _per_head(k_scale, heads),
        _per_head(v_scale, heads),
        _per_head(p_scale, heads),
        attn_bias,
        key_mask,
        scores,
    )
