"""FLOPs and traffic of one DFCAttention call: gate [B, C, h, w], DW (1, K) and (K, 1) weights, features
[B, C, H, W]: the two depthwise convs on the gate, its sigmoid (4 per element), the gating multiply."""

from __future__ import annotations

from edgeattn.ops.cost import elements, numel
from edgeattn.ops.registry import OpCost


def cost(shapes: dict[str, tuple[int, ...]], attributes: dict) -> OpCost:
    gate, features = numel(shapes["gate"]), numel(shapes["features"])
    taps = shapes["w_h"][-1] * shapes["w_h"][-2] + shapes["w_v"][-1] * shapes["w_v"][-2]
    return OpCost(2.0 * gate * taps + 4 * gate + features, elements(shapes), features)
