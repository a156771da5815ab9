"""DSVT's voxel set attention (`edgeattn.backbones.dsvt.VoxelSetAttention`) as a module calling SetAttention."""

from __future__ import annotations

from torch import Tensor, nn

from edgeattn.ops.set_attention.torch_op import set_attention_op


class EdgeVoxelSetAttention(nn.Module):
    """Gather into sets, masked multi-head attention, scatter back: one `edgeattn::set_attention` call."""

    def __init__(self, src) -> None:
        super().__init__()
        self.heads, self.scale = src.heads, src.scale

    def forward(self, q: Tensor, k: Tensor, v: Tensor, set_inds: Tensor, set_valid: Tensor,
                voxel_slot: Tensor) -> Tensor:
        return set_attention_op(q, k, v, set_inds, set_valid, voxel_slot, self.heads, self.scale)
