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
    dtype = v.dtype
    q, k, v = q.float(), k.float(), v.float()
    scores = torch.matmul(q.transpose(-2, -1), k) * scale
    attn = torch.softmax(scores, dim=-1)
    return torch.matmul(v, attn.transpose(-2, -1)).to(dtype)
