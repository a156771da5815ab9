"""SingleHeadAttention as a torch custom op: one node in `torch.export` / `torch.onnx.export`."""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.ops.single_head_attention.reference import single_head_attention


@torch.library.custom_op("edgeattn::single_head_attention", mutates_args=())
def single_head_attention_op(q: Tensor, k: Tensor, v: Tensor, scale: float) -> Tensor:
    """q, k: [B, Dqk, N]; v: [B, Dv, N] -> [B, Dv, N] (see reference.py)."""
    return single_head_attention(q, k, v, scale)


@single_head_attention_op.register_fake
def _fake(q: Tensor, k: Tensor, v: Tensor, scale: float) -> Tensor:
    return v.new_empty((v.shape[0], v.shape[1], q.shape[2]))
