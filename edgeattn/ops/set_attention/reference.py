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
    out = softmax_attention(*(to_sets(x, set_inds, num_heads) for x in (q, k, v)), scale, key_mask=set_valid)
    return from_sets(out, voxel_slot)


def to_sets(x: Tensor, set_inds: Tensor, num_heads: int) -> Tensor:
    """Per-voxel [N, C] gathered into head-major sets [S, H, T, C / H]."""
    sets, size = set_inds.shape
    return x.index_select(0, set_inds.reshape(-1)).reshape(sets, size, num_heads, -1).transpose(1, 2)


def from_sets(out: Tensor, voxel_slot: Tensor) -> Tensor:
    """Head-major set outputs [S, H, T, D] back to the voxels [N, H * D]: each voxel takes its slot's row."""
    sets, heads, size, head_dim = out.shape
    return out.transpose(1, 2).reshape(sets * size, heads * head_dim).index_select(0, voxel_slot.reshape(-1))
