"""fp32 reference for MultiHeadAttention: per-head softmax attention, optional bias and key mask."""

from __future__ import annotations

import torch
from torch import Tensor


def multi_head_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    attn_bias: Tensor | None = None,
    key_mask: Tensor | None = None,
) -> Tensor:
    """Softmax attention per head.

    q: [B, H, N, D]; k: [B, H, M, D]; v: [B, H, M, Dv] -> [B, H, N, Dv].
    attn_bias: optional additive bias [H, N, M] or [B, H, N, M], added after scaling.
    key_mask: optional bool [B, M], True marks a valid key; invalid keys get zero weight.
    A query row whose keys are all invalid yields zeros. Computed in fp32, cast back to v's dtype.
    """
    attn = attention_probabilities(q, k, scale, attn_bias, key_mask)
    return torch.matmul(attn, v.float()).to(v.dtype)


def attention_probabilities(q: Tensor, k: Tensor, scale: float, attn_bias: Tensor | None = None,
                            key_mask: Tensor | None = None) -> Tensor:
    """The attention weights [B, H, N, M] in fp32 (rows without a valid key are zero)."""
    scores = torch.matmul(q.float(), k.float().transpose(-2, -1)) * scale
    if attn_bias is not None:
        scores = scores + attn_bias.float()
    if key_mask is None:
        return torch.softmax(scores, dim=-1)
    valid = key_mask.to(torch.bool)[:, None, None, :]
    attn = torch.softmax(scores.masked_fill(~valid, float("-inf")), dim=-1)
    return attn.masked_fill(~valid.any(dim=-1, keepdim=True), 0.0)
