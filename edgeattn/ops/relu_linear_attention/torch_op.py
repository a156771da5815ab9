"""ReLULinearAttention as a torch custom op: one node in `torch.export` / `torch.onnx.export`."""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.ops.relu_linear_attention.reference import relu_linear_attention


@torch.library.custom_op("edgeattn::relu_linear_attention", mutates_args=())
def relu_linear_attention_op(q: Tensor, k: Tensor, v: Tensor, eps: float) -> Tensor:
    """q, k: [B, H, N, D]; v: [B, H, N, Dv] -> [B, H, N, Dv] (see reference.py)."""
    return relu_linear_attention(q, k, v, eps)


@relu_linear_attention_op.register_fake
def _fake(q: Tensor, k: Tensor, v: Tensor, eps: float) -> Tensor:
    return v.new_empty((q.shape[0], q.shape[1], q.shape[2], v.shape[3]))
