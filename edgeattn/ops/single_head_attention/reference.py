"""fp32 reference for SingleHeadAttention (SHViT SHSA core), channel-first layout."""

from __future__ import annotations

import torch
from torch import Tensor


def single_head_attention(q: Tensor, k: Tensor, v: Tensor, scale: float) -> Tensor:
    """Softmax attention of one head over N tokens, channels first.

    q, k: [B, Dqk, N]; v: [B, Dv, N] -> [B, Dv, N] with
    out[b, :, i] = sum_j softmax_j(scale * q[b, :, i] . k[b, :, j]) * v[b, :, j].
    Computed in fp32; the result is cast back to v's dtype.
    """
    attn = attention_probabilities(q, k, scale)
    return torch.matmul(v.float(), attn.transpose(-2, -1)).to(v.dtype)


def attention_probabilities(q: Tensor, k: Tensor, scale: float) -> Tensor:
    """softmax_j(scale * q[:, :, i] . k[:, :, j]) in fp32: [B, N, M] for q [B, D, N], k [B, D, M]."""
    scores = torch.matmul(q.float().transpose(-2, -1), k.float()) * scale
    return torch.softmax(scores, dim=-1)
