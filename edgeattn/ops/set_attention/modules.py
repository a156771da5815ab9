"""DSVT's voxel set attention (`edgeattn.backbones.dsvt.VoxelSetAttention`) as a module calling SetAttention,
with its head-wise weight edits, and the op's calibration capture."""

from __future__ import annotations

from torch import Tensor

from edgeattn.ops.attention_module import ProjectedAttention
from edgeattn.ops.set_attention.reference import from_sets, to_sets
from edgeattn.ops.set_attention.torch_op import set_attention_op
from edgeattn.ops.softmax_attention import attention_and_probabilities


class EdgeVoxelSetAttention(ProjectedAttention):
    """Projections, then one `edgeattn::set_attention` call (gather into sets, masked multi-head attention,
    scatter back), then the output projection."""

    def forward(self, qk: Tensor, x: Tensor, set_inds: Tensor, set_valid: Tensor, voxel_slot: Tensor) -> Tensor:
        out = set_attention_op(self.q_proj(qk), self.k_proj(qk), self.v_proj(x), set_inds, set_valid, voxel_slot,
                               self.heads, self.scale)
        return self.out_proj(out)


def capture(q: Tensor, k: Tensor, v: Tensor, set_inds: Tensor, set_valid: Tensor, voxel_slot: Tensor,
            num_heads: int, scale: float) -> dict[str, Tensor]:
    """Head-major statistics of one call: q, k, v and the output per voxel ([1, H, N, D]: every voxel once,
    no padding), probabilities per set slot ([S, H, T, T]; padded keys get zero weight)."""

    def heads(t: Tensor) -> Tensor:
        return t.reshape(1, t.shape[0], num_heads, -1).transpose(1, 2)

    out, probabilities = attention_and_probabilities(*(to_sets(t, set_inds, num_heads) for t in (q, k, v)), scale,
                                                     key_mask=set_valid)
    return {"q": heads(q), "k": heads(k), "v": heads(v), "p": probabilities,
            "o": heads(from_sets(out, voxel_slot))}
