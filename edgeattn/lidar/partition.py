"""Window and set partition (DSVT): runs outside the exported graph, vectorised torch.

For every window with n voxels: S = ceil(n / tau) sets; element k of set j takes the voxel of
in-window rank floor((j*tau + k) * n / (S*tau)) (integer arithmetic, exact). Short windows repeat
voxels; a repeat of the previous element is marked invalid (masked key). Because n > (S-1)*tau, a
voxel never straddles two sets, so every voxel is valid in exactly one slot: `voxel_slot` is that slot
(flat index s*tau + k), used to gather the attention output back to voxel order.
"""

from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor

from edgeattn.lidar.layout import ROTATIONS


@dataclass(frozen=True)
class WindowPartition:
    """Per voxel: contiguous window id [N] int64 and in-window coordinates (z, y, x) [N, 3] int64."""

    window_id: Tensor
    coords_in_window: Tensor
    num_windows: int


@dataclass(frozen=True)
class SetPartition:
    """Sets of one window configuration, for both rotations (index 0 y-major, 1 x-major).

    set_inds [2, S, tau] int64 voxel index per slot; set_valid [2, S, tau] bool (False = masked
    duplicate); voxel_slot [2, N] int64 flat slot (s*tau + k) holding each voxel's valid copy.
    """

    set_inds: Tensor
    set_valid: Tensor
    voxel_slot: Tensor

    @property
    def num_sets(self) -> int:
        return int(self.set_inds.shape[1])


def window_partition(
    coords: Tensor, window: tuple[int, int, int], shift: tuple[int, int, int]
) -> WindowPartition:
    """Assign voxels (coords [N, 4] = batch, z, y, x) to windows of `window` (x, y, z) shifted by `shift`.

    Window ids are contiguous and ordered by (batch, window z, window y, window x).
    """
    coords = coords.long()
    zyx = coords[:, 1:] + torch.tensor(shift[::-1])
    size = torch.tensor(window[::-1])
    win = torch.div(zyx, size, rounding_mode="floor")
    span = win.max(dim=0).values + 1
    key = ((coords[:, 0] * span[0] + win[:, 0]) * span[1] + win[:, 1]) * span[2] + win[:, 2]
    unique_keys, window_id = torch.unique(key, return_inverse=True)
    return WindowPartition(window_id, zyx - win * size, int(unique_keys.numel()))


def set_partition(windows: WindowPartition, window: tuple[int, int, int], set_size: int) -> SetPartition:
    """Fixed-size sets inside every window, y-major and x-major (see the module docstring)."""
    wx, wy, wz = window
    z, y, x = windows.coords_in_window.unbind(dim=1)
    volume = wx * wy * wz
    counts = torch.bincount(windows.window_id, minlength=windows.num_windows)
    first_voxel = torch.cumsum(counts, 0) - counts
    sets_per_window = (counts + set_size - 1) // set_size
    set_window = torch.repeat_interleave(torch.arange(windows.num_windows), sets_per_window)
    first_set = torch.cumsum(sets_per_window, 0) - sets_per_window
    j = torch.arange(set_window.numel()) - first_set[set_window]
    k = torch.arange(set_size)
    n = counts[set_window][:, None]
    rank = ((j[:, None] * set_size + k) * n) // (sets_per_window[set_window][:, None] * set_size)
    valid = torch.ones_like(rank, dtype=torch.bool)
    valid[:, 1:] = rank[:, 1:] != rank[:, :-1]
    position = first_voxel[set_window][:, None] + rank
    in_window_keys = {"y_major": (y * wx + x) * wz + z, "x_major": (x * wy + y) * wz + z}
    all_inds, all_slots = [], []
    for rotation in ROTATIONS:
        order = torch.argsort(windows.window_id * volume + in_window_keys[rotation], stable=True)
        inds = order[position]
        slot = torch.empty(windows.window_id.numel(), dtype=torch.long)
        slot[inds[valid]] = torch.arange(inds.numel()).reshape(inds.shape)[valid]
        all_inds.append(inds)
        all_slots.append(slot)
    return SetPartition(
        set_inds=torch.stack(all_inds),
        set_valid=torch.stack([valid, valid]),
        voxel_slot=torch.stack(all_slots),
    )


def window_position(windows: WindowPartition, window: tuple[int, int, int], dims: int) -> Tensor:
    """Centred in-window coordinates [N, dims] float32: (x, y) or (x, y, z) minus half the window."""
    z, y, x = windows.coords_in_window.float().unbind(dim=1)
    wx, wy, wz = window
    xyz = [x - wx / 2, y - wy / 2, z - wz / 2]
    return torch.stack(xyz[:dims], dim=1)
