"""INT8 reference for MultiHeadAttention: the fp32 math with the kernels' fake quantization."""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.ops.fake_quant import dequantize, integer_matmul, quantize_probabilities


def int8_scores(q: Tensor, k: Tensor) -> Tensor:
    """Exact int32 Q.K^T accumulators of int8 q [B,H,N,D], k [B,H,M,D] -> [B,H,N,M]."""
    return integer_matmul(q, k.transpose(-2, -1))


def _head_scale(scale: Tensor, heads: int) -> Tensor:
    return scale.float().reshape(-1).expand(heads).reshape(1, heads, 1, 1)


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
) -> Tensor:
    """int8 q, k with per-head scales; int8 v (P quantized with p_scale) or float v. fp32 output."""
    heads = q.shape[1]
    scores = int8_scores(q, k).float() * (
        _head_scale(q_scale, heads) * _head_scale(k_scale, heads) * scale
    )
    if attn_bias is not None:
        scores = scores + attn_bias.float()
    if key_mask is not None:
        valid = key_mask[:, None, None, :]
        scores = scores.masked_fill(~valid, float("-inf"))
    attn = torch.softmax(scores, dim=-1)
    if key_mask is not None:
        attn = attn.masked_fill(~valid.any(dim=-1, keepdim=True), 0.0)
    if v.dtype == torch.int8:
        p_heads = p_scale.float().reshape(-1).expand(heads)
        attn = dequantize(quantize_probabilities(attn, p_heads, axis=1), p_heads, axis=1)
        v = dequantize(v, v_scale.float().reshape(-1).expand(heads), axis=1)
    return torch.matmul(attn, v.float())
