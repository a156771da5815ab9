"""Everything the exported DSVT attention stack takes besides voxel features, built from coordinates.

Graph inputs (in order, see `stack_input_names`):
  voxel_feats [N0, 7] float32 — voxelizer output
  per stage i and shift h:
    set_inds_s{i}_shift{h}   [2, S_ih, tau] int64   voxel index per set slot (y-major, x-major)
    set_valid_s{i}_shift{h}  [2, S_ih, tau] bool    False for masked duplicates
    voxel_slot_s{i}_shift{h} [2, N_i] int64         slot holding each voxel's valid copy
    win_pos_s{i}_shift{h}    [N_i, 2|3] float32     centred in-window coordinates
  per stage i but the last:
    pool_inds_s{i}  [N_{i+1}, V] int64  member voxel of every pooling region slot (0 when empty)
    pool_valid_s{i} [N_{i+1}, V] bool   slot occupied
Dynamic sizes: voxels_s{i} (N_i) and sets_s{i}_shift{h} (S_ih).
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from edgeattn.errors import UsageError
from edgeattn.lidar.layout import NUM_SHIFTS, DSVTLayout
from edgeattn.lidar.partition import set_partition, window_partition, window_position
from edgeattn.lidar.voxelize import Voxels


@dataclass(frozen=True)
class Pooling:
    """Downsampling regions: next-stage coords [M, 4] int32 and member indices/validity [M, V]."""

    coords: Tensor
    inds: Tensor
    valid: Tensor


def pooling_regions(coords: Tensor, stride: tuple[int, int, int]) -> Pooling:
    """Group voxels (coords [N, 4] = batch, z, y, x) into regions of `stride` (x, y, z) voxels."""
    coords = coords.long()
    sx, sy, sz = stride
    b, z, y, x = coords.unbind(dim=1)
    pooled = torch.stack([b, z // sz, y // sy, x // sx], dim=1)
    span = pooled.max(dim=0).values + 1
    key = ((pooled[:, 0] * span[1] + pooled[:, 1]) * span[2] + pooled[:, 2]) * span[3] + pooled[:, 3]
    unique_keys, region = torch.unique(key, return_inverse=True)
    in_region = ((z % sz) * sy + y % sy) * sx + x % sx
    inds = torch.zeros(unique_keys.numel(), sx * sy * sz, dtype=torch.long)
    valid = torch.zeros_like(inds, dtype=torch.bool)
    inds[region, in_region] = torch.arange(coords.shape[0])
    valid[region, in_region] = True
    first = torch.full((unique_keys.numel(),), coords.shape[0], dtype=torch.long)
    first = first.scatter_reduce(0, region, torch.arange(coords.shape[0]), reduce="amin")
    return Pooling(pooled[first].int(), inds, valid)


def stack_input_names(layout: DSVTLayout) -> list[str]:
    """Graph input names of the attention stack, in positional order."""
    names = ["voxel_feats"]
    for i in range(len(layout.stages)):
        for h in range(NUM_SHIFTS):
            names += [f"set_inds_s{i}_shift{h}", f"set_valid_s{i}_shift{h}",
                      f"voxel_slot_s{i}_shift{h}", f"win_pos_s{i}_shift{h}"]
        if i < len(layout.stages) - 1:
            names += [f"pool_inds_s{i}", f"pool_valid_s{i}"]
    return names


def stack_dynamic_axes(layout: DSVTLayout) -> dict[str, dict[int, str]]:
    """Which axis of every graph input is dynamic, by dimension name."""
    axes: dict[str, dict[int, str]] = {"voxel_feats": {0: "voxels_s0"}}
    for i in range(len(layout.stages)):
        for h in range(NUM_SHIFTS):
            sets = f"sets_s{i}_shift{h}"
            axes[f"set_inds_s{i}_shift{h}"] = {1: sets}
            axes[f"set_valid_s{i}_shift{h}"] = {1: sets}
            axes[f"voxel_slot_s{i}_shift{h}"] = {1: f"voxels_s{i}"}
            axes[f"win_pos_s{i}_shift{h}"] = {0: f"voxels_s{i}"}
        if i < len(layout.stages) - 1:
            axes[f"pool_inds_s{i}"] = {0: f"voxels_s{i + 1}"}
            axes[f"pool_valid_s{i}"] = {0: f"voxels_s{i + 1}"}
    return axes


@dataclass(frozen=True)
class StackInputs:
    """Named graph inputs of the attention stack plus the voxel coordinates of every stage."""

    tensors: dict[str, Tensor]
    stage_coords: list[Tensor]
    batch_size: int

    def as_tuple(self) -> tuple[Tensor, ...]:
        return tuple(self.tensors.values())

    def dims(self, layout: DSVTLayout) -> dict[str, int]:
        """Value of every dynamic dimension (voxels_s{i}, sets_s{i}_shift{h})."""
        sizes: dict[str, int] = {}
        for name, axes in stack_dynamic_axes(layout).items():
            for axis, dim in axes.items():
                sizes[dim] = int(self.tensors[name].shape[axis])
        return sizes


def build_stack_inputs(voxels: Voxels, layout: DSVTLayout) -> StackInputs:
    """Partition, positions and pooling regions for every stage: the attention stack's inputs."""
    _check_voxels(voxels, layout)
    tensors: dict[str, Tensor] = {"voxel_feats": voxels.features.float()}
    coords = voxels.coords
    stage_coords = []
    for i, stage in enumerate(layout.stages):
        stage_coords.append(coords)
        for h in range(NUM_SHIFTS):
            window = stage.window_shape(h)
            windows = window_partition(coords, window, stage.window_shift(h))
            sets = set_partition(windows, window, stage.set_size)
            tensors[f"set_inds_s{i}_shift{h}"] = sets.set_inds
            tensors[f"set_valid_s{i}_shift{h}"] = sets.set_valid
            tensors[f"voxel_slot_s{i}_shift{h}"] = sets.voxel_slot
            tensors[f"win_pos_s{i}_shift{h}"] = window_position(windows, window, layout.pos_dims(i))
        if i < len(layout.stages) - 1:
            pooling = pooling_regions(coords, stage.downsample)
            tensors[f"pool_inds_s{i}"] = pooling.inds
            tensors[f"pool_valid_s{i}"] = pooling.valid
            coords = pooling.coords
    return StackInputs(tensors, stage_coords, voxels.batch_size)


def _check_voxels(voxels: Voxels, layout: DSVTLayout) -> None:
    coords = voxels.coords
    if coords.dtype not in (torch.int32, torch.int64):
        raise UsageError(
            f"voxel coordinates have dtype {str(coords.dtype).removeprefix('torch.')}; expected int32 or int64",
            "Pass integer (batch, z, y, x) grid indices, e.g. coords.int(); use edgeattn.lidar.voxelize.",
        )
    if coords.dim() != 2 or coords.shape[1] != 4 or voxels.features.shape[0] != coords.shape[0]:
        raise UsageError(
            f"voxel coords {tuple(coords.shape)} / features {tuple(voxels.features.shape)} do not match",
            "Pass coords [N, 4] (batch, z, y, x) and features [N, C] with the same N.",
        )
    if coords.shape[0] == 0:
        raise UsageError("no voxels to process (N = 0)",
                         "Skip empty frames, or check that points fall inside the point-cloud range.")
    gx, gy, gz = layout.grid.shape
    high = torch.tensor([voxels.batch_size, gz, gy, gx])
    if bool((coords < 0).any()) or bool((coords.long() >= high).any()):
        raise UsageError(
            f"voxel coordinates fall outside the grid (batch {voxels.batch_size}, z {gz}, y {gy}, x {gx})",
            "Voxelize with the model's grid (model.layout.grid) so that coordinates match it.",
        )
    key = ((coords[:, 0].long() * gz + coords[:, 1]) * gy + coords[:, 2]) * gx + coords[:, 3]
    if torch.unique(key).numel() != key.numel():
        raise UsageError("voxel coordinates contain duplicates",
                         "Each voxel must appear once; merge points per voxel (edgeattn.lidar.voxelize does).")


def padding_probe(inputs: StackInputs, layout: DSVTLayout) -> dict[str, Tensor]:
    """The same inputs with every padded slot pointing at another voxel: set slots masked as duplicates
    (`set_valid` False) and empty pooling-region slots (`pool_valid` False). The stack's output and every
    value computed for a real slot stay the same; what changes derives from padding."""
    probe = dict(inputs.tensors)
    for i in range(len(layout.stages)):
        for h in range(NUM_SHIFTS):
            name = f"set_inds_s{i}_shift{h}"
            voxels = inputs.tensors[f"voxel_slot_s{i}_shift{h}"].shape[1]
            probe[name] = _repointed(inputs.tensors[name], inputs.tensors[f"set_valid_s{i}_shift{h}"], voxels)
        if i < len(layout.stages) - 1:
            voxels = inputs.tensors[f"voxel_slot_s{i}_shift0"].shape[1]
            probe[f"pool_inds_s{i}"] = _repointed(inputs.tensors[f"pool_inds_s{i}"],
                                                  inputs.tensors[f"pool_valid_s{i}"], voxels)
    return probe


def _repointed(inds: Tensor, valid: Tensor, voxels: int) -> Tensor:
    return torch.where(valid, inds, (inds + 1 + voxels // 2) % voxels)
