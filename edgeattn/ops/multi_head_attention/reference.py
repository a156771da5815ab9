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
    dtype = v.dtype
    q, k, v = q.float(), k.float(), v.float()
    scores = torch.matmul(q, k.transpose(-2, -1)) * scale
    if attn_bias is not None:
        scores = scores + attn_bias.float()
    if key_mask is not None:
        valid = key_mask.to(torch.bool)[:, None, None, :]
        scores = scores.masked_fill(~valid, float("-inf"))
    attn = torch.softmax(scores, dim=-1)
    if key_mask is not None:
        attn = attn.masked_fill(~valid.any(dim=-1, keepdim=True), 0.0)
    return torch.matmul(attn, v).to(dtype)
