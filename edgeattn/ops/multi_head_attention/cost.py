"""FLOPs and traffic of one MultiHeadAttention call: q [B, H, N, D], k [B, H, M, D], v [B, H, M, Dv]."""

from __future__ import annotations

import math

from edgeattn.ops.cost import elements, softmax_attention_flops
from edgeattn.ops.registry import OpCost


def cost(shapes: dict[str, tuple[int, ...]], attributes: dict) -> OpCost:
    q, k, v = shapes["q"], shapes["k"], shapes["v"]
    rows = math.prod(q[:-2])
    return OpCost(softmax_attention_flops(rows, q[-2], k[-2], q[-1], v[-1]), elements(shapes),
                  rows * q[-2] * v[-1])
