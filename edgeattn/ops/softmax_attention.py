"""Softmax attention maths shared by the references of the attention ops (fp32, and INT8 with the kernels'
fake quantization). Tensors are head-major: q [B, H, N, D], k [B, H, M, D], v [B, H, M, Dv]."""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.ops.fake_quant import dequantize, integer_matmul, quantize_probabilities


def _masked_softmax(scores: Tensor, key_mask: Tensor | None) -> Tensor:
    """softmax over keys; invalid keys get zero weight and a row without valid keys is all zeros."""
    if key_mask is None:
        return torch.softmax(scores, dim=-1)
    valid = key_mask.to(torch.bool)[:, None, None, :]
    attn = torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=-1)
    return attn.masked_fill(~valid.any(dim=-1, keepdim=True), 0.0)


def attention_probabilities(q: Tensor, k: Tensor, scale: float, attn_bias: Tensor | None = None,
                            key_mask: Tensor | None = None) -> Tensor:
    """The attention weights [B, H, N, M] in fp32 (bias added after scaling; key_mask True = valid key)."""
    scores = torch.matmul(q.float(), k.float().transpose(-2, -1)) * scale
    if attn_bias is not None:
        scores = scores + attn_bias.float()
    return _masked_softmax(scores, key_mask)


def softmax_attention(q: Tensor, k: Tensor, v: Tensor, scale: float, attn_bias: Tensor | None = None,
                      key_mask: Tensor | None = None) -> Tensor:
    """softmax(scale q k^T + bias) v in fp32, cast back to v's dtype."""
    return attention_and_probabilities(q, k, v, scale, attn_bias, key_mask)[0]


def attention_and_probabilities(q: Tensor, k: Tensor, v: Tensor, scale: float, attn_bias: Tensor | None = None,
                                key_mask: Tensor | None = None) -> tuple[Tensor, Tensor]:
    """(`softmax_attention`'s output, its attention weights): what calibration observes, in one pass."""
    probabilities = attention_probabilities(q, k, scale, attn_bias, key_mask)
    return torch.matmul(probabilities, v.float()).to(v.dtype), probabilities


def int8_scores(q: Tensor, k: Tensor) -> Tensor:
    """Exact int32 Q.K^T accumulators of int8 q [B,H,N,D], k [B,H,M,D] -> [B,H,N,M]."""
    return integer_matmul(q, k.transpose(-2, -1))


def _head_scale(scale: Tensor, heads: int) -> Tensor:
    return scale.float().reshape(-1).expand(heads).reshape(1, heads, 1, 1)


def softmax_attention_int8(q: Tensor, k: Tensor, v: Tensor, scale: float, q_scale: Tensor, k_scale: Tensor,
                           v_scale: Tensor | None = None, p_scale: Tensor | None = None,
                           attn_bias: Tensor | None = None, key_mask: Tensor | None = None) -> Tensor:
    """int8 q, k with per-head scales; int8 v (P quantized with p_scale) or float v. fp32 output."""
    heads = q.shape[1]
    scores = int8_scores(q, k).float() * (_head_scale(q_scale, heads) * _head_scale(k_scale, heads) * scale)
    if attn_bias is not None:
        scores = scores + attn_bias.float()
    attn = _masked_softmax(scores, key_mask)
    if v.dtype == torch.int8:
        p_heads = p_scale.float().reshape(-1).expand(heads)
        attn = dequantize(quantize_probabilities(attn, p_heads, axis=1), p_heads, axis=1)
        v = dequantize(v, v_scale.float().reshape(-1).expand(heads), axis=1)
    return torch.matmul(attn, v.float())
