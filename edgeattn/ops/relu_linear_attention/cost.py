"""FLOPs and traffic of one ReLULinearAttention call: q, k [B, H, N, D], v [B, H, N, Dv].

relu(k)^T [v | 1] is 2 N D (Dv + 1) per head, relu(q) times that state another 2 N D (Dv + 1), plus the
ReLUs (2 N D) and the division (N Dv)."""

from __future__ import annotations

import math

from edgeattn.ops.cost import elements
from edgeattn.ops.registry import OpCost


def cost(shapes: dict[str, tuple[int, ...]], attributes: dict) -> OpCost:
    q, v = shapes["q"], shapes["v"]
    tokens, d, dv = math.prod(q[:-1]), q[-1], v[-1]
    flops = 4.0 * tokens * d * (dv + 1) + 2 * tokens * d + tokens * dv
    return OpCost(flops, elements(shapes), tokens * dv)
