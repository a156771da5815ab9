"""fp32 reference for SetAttention: gather voxels into sets, masked multi-head attention, gather back."""

from __future__ import annotations

from torch import Tensor

from edgeattn.ops.softmax_attention import softmax_attention


def set_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    set_inds: Tensor,
    set_valid: Tensor,
    voxel_slot: Tensor,
    num_heads: int,
    scale: float,
) -> Tensor:
    """Attention inside fixed-size voxel sets.

    q, k, v: [N, C] per-voxel projections (C = num_heads * head_dim). set_inds: [S, T] int voxel index
    of every set slot; set_valid: [S, T] bool, False masks a duplicate key; voxel_slot: [N] int flat
    slot (s*T + t) whose output each voxel takes. Returns [N, C] in v's dtype (fp32 inside).
    """
    channels = q.shape[1]
    sets, size = set_inds.shape
    head_dim = channels // num_heads
    flat = set_inds.reshape(-1)

    def to_sets(x: Tensor) -> Tensor:
        return x.index_select(0, flat).reshape(sets, size, num_heads, head_dim).transpose(1, 2)

    out = softmax_attention(to_sets(q), to_sets(k), to_sets(v), scale, key_mask=set_valid)
    return out.transpose(1, 2).reshape(sets * size, channels).index_select(0, voxel_slot.reshape(-1))
