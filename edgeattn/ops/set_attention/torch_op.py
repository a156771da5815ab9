"""SetAttention as a torch custom op: one node in `torch.export` / `torch.onnx.export`."""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.ops.set_attention.reference import set_attention


@torch.library.custom_op("edgeattn::set_attention", mutates_args=())
def set_attention_op(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    set_inds: Tensor,
    set_valid: Tensor,
    voxel_slot: Tensor,
    num_heads: int,
    scale: float,
) -> Tensor:
    """q, k, v: [N, C]; set_inds/set_valid: [S, T]; voxel_slot: [N] -> [N, C] (see reference.py)."""
    return set_attention(q, k, v, set_inds, set_valid, voxel_slot, num_heads, scale)


@set_attention_op.register_fake
def _fake(q, k, v, set_inds, set_valid, voxel_slot, num_heads, scale):
    return v.new_empty((voxel_slot.shape[0], v.shape[1]))
