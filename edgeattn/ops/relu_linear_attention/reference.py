"""fp32 reference for ReLULinearAttention (EfficientViT-B/L LiteMLA core)."""

from __future__ import annotations

import torch
from torch import Tensor


def relu_linear_attention(q: Tensor, k: Tensor, v: Tensor, eps: float) -> Tensor:
    """ReLU linear attention per head.

    q, k: [B, H, N, D]; v: [B, H, N, Dv] -> [B, H, N, Dv] with
    out = (relu(q) @ (relu(k)^T v)) / (relu(q) @ (relu(k)^T 1) + eps).
    The k^T v state, the normaliser and the division always run in fp32; the result is cast back
    to v's dtype.
    """
    dtype = v.dtype
    q = torch.relu(q.float())
    k = torch.relu(k.float())
    v = v.float()
    kv = torch.matmul(k.transpose(-2, -1), v)
    k_sum = k.sum(dim=-2, keepdim=True)
    numerator = torch.matmul(q, kv)
    denominator = torch.matmul(q, k_sum.transpose(-2, -1)) + eps
    return (numerator / denominator).to(dtype)
