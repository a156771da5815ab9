"""Random inputs of one SuperTokenAttention call: a token map and C^-1/2-scaled projection weights (so the
outputs stay O(1))."""

from __future__ import annotations

from edgeattn.ops.cases import random_tensor

BATCHED_INPUTS = ("x",)
WEIGHT_GAIN = {"qkv_weight": None, "proj_weight": None, "qkv_bias": 0.1, "proj_bias": 0.1}
"""Scale of each weight input: None = C^-1/2 (the fan-in), else the given factor."""


def make_inputs(shapes, attributes, dtype, generator):
    channels = shapes["x"][1]
    tensors = {"x": random_tensor(shapes["x"], dtype, generator)}
    for name, gain in WEIGHT_GAIN.items():
        tensors[name] = random_tensor(shapes[name], dtype, generator, channels**-0.5 if gain is None else gain)
    return tensors, attributes
