"""FLOPs and traffic of one SetAttention call: q, k, v [N, C] voxels, sets [S, T], H heads.

Attention runs inside each set: S x H attentions of T queries over T keys (head dim C / H); an ideal
kernel reads each voxel's q, k, v once (plus the indices) and writes each voxel's output once."""

from __future__ import annotations

from edgeattn.ops.cost import elements, softmax_attention_flops
from edgeattn.ops.registry import OpCost


def cost(shapes: dict[str, tuple[int, ...]], attributes: dict) -> OpCost:
    voxels, channels = shapes["q"]
    sets, size = shapes["set_inds"]
    heads = int(attributes["num_heads"])
    head_dim = channels // heads
    return OpCost(softmax_attention_flops(sets * heads, size, size, head_dim, head_dim), elements(shapes),
                  voxels * channels)
