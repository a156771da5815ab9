"""FLOPs and traffic of one SingleHeadAttention call: q, k [B, Dqk, N], v [B, Dv, N] -> [B, Dv, N]."""

from __future__ import annotations

from edgeattn.ops.cost import elements, softmax_attention_flops
from edgeattn.ops.registry import OpCost


def cost(shapes: dict[str, tuple[int, ...]], attributes: dict) -> OpCost:
    batch, dqk, n = shapes["q"]
    dv, m = shapes["v"][1], shapes["k"][2]
    return OpCost(softmax_attention_flops(batch, n, m, dqk, dv), elements(shapes), batch * dv * n)
