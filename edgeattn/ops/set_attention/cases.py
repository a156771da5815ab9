"""Random inputs of one SetAttention call: q, k, v and a DSVT-like partition of the voxels into sets."""

from __future__ import annotations

import math

import torch
from torch import Tensor

from edgeattn.ops.cases import random_tensor

BATCHED_INPUTS = ("q", "k", "v", "voxel_slot")
"""The voxel count scales with the batch (a batch of clouds is one voxel list)."""


def set_partition(num_voxels: int, set_size: int, generator: torch.Generator) -> tuple[Tensor, Tensor, Tensor]:
    """Shuffled voxels in ceil(N/T) sets, short sets padded with repeats (masked: set_valid False).

    Returns set_inds [S, T] int64, set_valid [S, T] bool and voxel_slot [N] int64 (each voxel's own slot)."""
    sets = math.ceil(num_voxels / set_size)
    order = torch.randperm(num_voxels, generator=generator)
    inds = torch.full((sets * set_size,), int(order[-1]), dtype=torch.int64)
    inds[:num_voxels] = order
    valid = torch.zeros(sets * set_size, dtype=torch.bool)
    valid[:num_voxels] = True
    slot = torch.empty(num_voxels, dtype=torch.int64)
    slot[order] = torch.arange(num_voxels)
    return inds.view(sets, set_size), valid.view(sets, set_size), slot


def make_inputs(shapes, attributes, dtype, generator):
    tensors = {name: random_tensor(shapes[name], dtype, generator) for name in ("q", "k", "v")}
    num_voxels, channels = shapes["q"]
    inds, valid, slot = set_partition(num_voxels, shapes["set_inds"][1], generator)
    tensors.update(set_inds=inds, set_valid=valid, voxel_slot=slot)
    attributes = {"scale": (channels // attributes["num_heads"]) ** -0.5, **attributes}
    return tensors, attributes
