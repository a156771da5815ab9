"""MultiHeadAttention as a torch custom op: one node in `torch.export` / `torch.onnx.export`."""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.ops.multi_head_attention.reference import multi_head_attention


@torch.library.custom_op("edgeattn::multi_head_attention", mutates_args=())
def multi_head_attention_op(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    attn_bias: Tensor | None = None,
    key_mask: Tensor | None = None,
) -> Tensor:
    """q: [B, H, N, D]; k: [B, H, M, D]; v: [B, H, M, Dv] -> [B, H, N, Dv] (see reference.py)."""
    return multi_head_attention(q, k, v, scale, attn_bias=attn_bias, key_mask=key_mask)


@multi_head_attention_op.register_fake
def _fake(q, k, v, scale, attn_bias=None, key_mask=None):
    return v.new_empty((q.shape[0], q.shape[1], q.shape[2], v.shape[3]))
