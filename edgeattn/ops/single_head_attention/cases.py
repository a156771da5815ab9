"""Random inputs of one SingleHeadAttention call for kernel tests and benchmarks."""

from __future__ import annotations

from edgeattn.ops.cases import random_tensor

BATCHED_INPUTS = ("q", "k", "v")


def make_inputs(shapes, attributes, dtype, generator):
    return {name: random_tensor(shapes[name], dtype, generator) for name in ("q", "k", "v")}, attributes
