"""Random inputs of one MultiHeadAttention call (optional bias and key mask when the case has them)."""

from __future__ import annotations

import torch

from edgeattn.ops.cases import random_tensor

BATCHED_INPUTS = ("q", "k", "v", "key_mask")


def make_inputs(shapes, attributes, dtype, generator):
    tensors = {name: random_tensor(shapes[name], dtype, generator) for name in ("q", "k", "v", "attn_bias")
               if name in shapes}
    if "key_mask" in shapes:
        mask = torch.rand(shapes["key_mask"], generator=generator) > 0.3
        mask[:, 0] = True
        tensors["key_mask"] = mask
    return tensors, attributes
