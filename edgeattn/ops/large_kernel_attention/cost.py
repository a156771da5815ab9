"""FLOPs and traffic of one LargeKernelAttention call: x [B, C, H, W] through DW K0xK0 then DW K1xK1."""

from __future__ import annotations

from edgeattn.ops.cost import elements, numel
from edgeattn.ops.registry import OpCost


def cost(shapes: dict[str, tuple[int, ...]], attributes: dict) -> OpCost:
    x = numel(shapes["x"])
    taps = shapes["w0"][-1] * shapes["w0"][-2] + shapes["w1"][-1] * shapes["w1"][-2]
    return OpCost(2.0 * x * taps, elements(shapes), x)
