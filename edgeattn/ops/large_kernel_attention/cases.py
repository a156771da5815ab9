"""Random inputs of one LargeKernelAttention call (weights scaled down to keep the chain well conditioned)."""

from __future__ import annotations

from edgeattn.ops.cases import WEIGHT_SCALE, random_tensor

BATCHED_INPUTS = ("x",)
WEIGHTS = ("w0", "b0", "w1", "b1")


def make_inputs(shapes, attributes, dtype, generator):
    tensors = {name: random_tensor(shapes[name], dtype, generator, WEIGHT_SCALE if name in WEIGHTS else 1.0)
               for name in ("x", *WEIGHTS)}
    return tensors, attributes
