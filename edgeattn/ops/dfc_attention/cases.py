"""Random inputs of one DFCAttention call (weights scaled down to keep the chain well conditioned)."""

from __future__ import annotations

from edgeattn.ops.cases import WEIGHT_SCALE, random_tensor

BATCHED_INPUTS = ("gate", "features")
WEIGHTS = ("w_h", "b_h", "w_v", "b_v")


def make_inputs(shapes, attributes, dtype, generator):
    tensors = {name: random_tensor(shapes[name], dtype, generator, WEIGHT_SCALE if name in WEIGHTS else 1.0)
               for name in ("gate", *WEIGHTS, "features")}
    return tensors, attributes
