"""DFCAttention as a torch custom op: one node in `torch.export` / `torch.onnx.export`."""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.ops.dfc_attention.reference import dfc_attention


@torch.library.custom_op("edgeattn::dfc_attention", mutates_args=())
def dfc_attention_op(
    gate: Tensor, w_h: Tensor, b_h: Tensor, w_v: Tensor, b_v: Tensor, features: Tensor
) -> Tensor:
    """gate [B, C, h, w], depthwise weights, features [B, C, H, W] -> [B, C, H, W] (see reference.py)."""
    return dfc_attention(gate, w_h, b_h, w_v, b_v, features)


@dfc_attention_op.register_fake
def _fake(gate, w_h, b_h, w_v, b_v, features):
    return torch.empty_like(features)
