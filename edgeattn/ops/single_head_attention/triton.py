"""Triton SingleHeadAttention (SHViT SHSA core): one pass, online softmax, channel-first layout.

The [B, D, N] tensors are passed to the shared attention kernel as single-head [B, 1, N, D] views
(token and channel strides swapped), so no transpose or padding copy is made.
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


def _head_view(x: Tensor) -> Tensor:
    return x.transpose(1, 2).unsqueeze(1)


def _shape_refusal(q: Tensor, k: Tensor, v: Tensor) -> str:
    if q.dim() != 3 or k.dim() != 3 or v.dim() != 3:
        return "q, k and v must be 3-D [B, D, N] (channels first)"
    if q.shape != k.shape:
        return f"q {tuple(q.shape)} and k {tuple(k.shape)} must have the same shape"
    if v.shape[0] != q.shape[0] or v.shape[2] != q.shape[2]:
        return f"v {tuple(v.shape)} must share batch and token count with q {tuple(q.shape)}"
    if q.shape[1] > MAX_HEAD_DIM:
        return f"q/k channel count {q.shape[1]} exceeds the kernel limit {MAX_HEAD_DIM}"
    if min(q.shape) == 0 or v.shape[1] == 0:
        return "empty tensors are not supported"
    return ""


def can_run(q: Tensor, k: Tensor, v: Tensor, scale: float) -> tuple[bool, str]:
    """Whether the fp32/fp16 kernel accepts these inputs, and why not."""
    return verdict(
        _shape_refusal(q, k, v)
        or float_qkv_refusal(q, k, v)
        or device_refusal((q, k, v), attention_fwd_kernel)
    )


def single_head_attention(
    q: Tensor, k: Tensor, v: Tensor, scale: float, out: Tensor | None = None
) -> Tensor:
    """softmax(scale * q^T k) applied to v; q, k [B, Dqk, N], v [B, Dv, N] -> [B, Dv, N]."""
    raise_if_refused("SingleHeadAttention", can_run(q, k, v, scale))
    out = torch.empty_like(v) if out is None else out
    attention_forward(_head_view(q), _head_view(k), _head_view(v), _head_view(out), scale)
    return out


def can_run_int8(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    q_scale: Tensor,
    k_scale: Tensor,
    v_scale: Tensor | None = None,
    p_scale: Tensor | None = None,
) -> tuple[bool, str]:
    """Whether the INT8 kernel accepts these inputs, and why not."""
    scales = {"q_scale": q_scale, "k_scale": k_scale, "v_scale": v_scale, "p_scale": p_scale}
    return verdict(
        _shape_refusal(q, k, v)
        or int8_attention_refusal(q, k, v, scales, 1)
        or device_refusal((q, k, v), attention_int8_kernel)
    )


def single_head_attention_int8(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    q_scale: Tensor,
    k_scale: Tensor,
    v_scale: Tensor | None = None,
    p_scale: Tensor | None = None,
    out: Tensor | None = None,
    scores: Tensor | None = None,
) -> Tensor:
    """INT8 SingleHeadAttention: int8 q, k [B, Dqk, N]; v int8 (with v_scale, p_scale) or float.

    Output is float16 for int8 v, else v's dtype. `scores` ([B, N, N] int32) receives the
    int32 q^T k accumulators when given.
    """
    raise_if_refused(
        "SingleHeadAttention INT8", can_run_int8(q, k, v, scale, q_scale, k_scale, v_scale, p_scale)
    )
    out = int8_output(v, v.shape) if out is None else out
    attention_int8_forward(
        _head_view(q),
        _head_view(k),
        _head_view(v),
        _head_view(out),
        scale,
        q_scale,
        k_scale,
        v_scale,
        p_scale,
        scores=None if scores is None else scores.unsqueeze(1),
    )
    return out
