"""The geometry of a DSVT backbone: grid, windows, set sizes, shifts and downsampling per stage."""

from __future__ import annotations

import math
from dataclasses import dataclass

from edgeattn.errors import UsageError
from edgeattn.lidar.voxelize import VoxelGrid

NUM_SHIFTS = 2
"""Every stage has two window configurations: shift 0 (base windows) and shift 1 (hybrid, shifted)."""

ROTATIONS = ("y_major", "x_major")
"""Set orders inside a window; layer 0 of a block uses y-major sets, layer 1 x-major ("rotated sets")."""


@dataclass(frozen=True)
class StageLayout:
    """One stage: windows (x, y, z) in voxels, voxels per set, blocks, and the stride to the next stage.

    Shift 0 uses `window` unshifted; shift 1 uses `window * hybrid` offset by `shift` voxels.
    Blocks alternate shift 0, 1, 0, ... (counted over the whole network, as in DSVT).
    """

    window: tuple[int, int, int]
    set_size: int
    blocks: int
    shift: tuple[int, int, int] = (0, 0, 0)
    hybrid: tuple[int, int, int] = (2, 2, 1)
    downsample: tuple[int, int, int] | None = None

    def __post_init__(self) -> None:
        if min(self.window) < 1 or self.set_size < 1 or self.blocks < 1 or min(self.hybrid) < 1:
            raise UsageError(f"invalid DSVT stage layout {self}",
                             "Windows, hybrid factors, set size and block count must be >= 1.")

    def window_shape(self, shift_id: int) -> tuple[int, int, int]:
        if shift_id == 0:
            return self.window
        return tuple(w * h for w, h in zip(self.window, self.hybrid))  # type: ignore[return-value]

    def window_shift(self, shift_id: int) -> tuple[int, int, int]:
        return (0, 0, 0) if shift_id == 0 else self.shift

    @property
    def pool_volume(self) -> int:
        return math.prod(self.downsample) if self.downsample else 1


@dataclass(frozen=True)
class DSVTLayout:
    """Grid plus stages; `stage_grid(i)` is the (X, Y, Z) voxel grid stage i works on."""

    grid: VoxelGrid
    stages: tuple[StageLayout, ...]

    def __post_init__(self) -> None:
        for stage in self.stages[:-1]:
            if stage.downsample is None:
                raise UsageError("every DSVT stage but the last needs a downsample stride",
                                 "Set StageLayout.downsample, e.g. (1, 1, 4) for z-only pooling.")

    def stage_grid(self, stage_id: int) -> tuple[int, int, int]:
        shape = self.grid.shape
        for stage in self.stages[:stage_id]:
            shape = tuple(math.ceil(s / d) for s, d in zip(shape, stage.downsample))  # type: ignore
        return shape  # type: ignore[return-value]

    def block_shifts(self) -> list[list[int]]:
        """Shift id of every block, per stage (alternating over the whole network)."""
        shifts, block_id = [], 0
        for stage in self.stages:
            shifts.append([(block_id + b) % NUM_SHIFTS for b in range(stage.blocks)])
            block_id += stage.blocks
        return shifts

    def pos_dims(self, stage_id: int) -> int:
        """2 (x, y) for a flat grid, 3 (x, y, z) otherwise: in-window coordinates fed to position MLPs."""
        return 2 if self.stage_grid(stage_id)[2] == 1 else 3
