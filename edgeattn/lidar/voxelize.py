"""Points [P, 4+] (x, y, z, intensity, ...) -> voxels: mean point features + voxel-centre offsets.

Voxel features (7 channels, `VOXEL_FEATURES`): mean x, y, z, intensity of the points in the voxel,
then the offset of that mean from the voxel centre (dx, dy, dz). Coordinates are int32
(batch, z, y, x) on the grid, as in OpenPCDet/DSVT.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import Tensor

from edgeattn.errors import EdgeattnError, UsageError

VOXEL_FEATURES = ("x", "y", "z", "intensity", "dx", "dy", "dz")


@dataclass(frozen=True)
class VoxelGrid:
    """A point-cloud range [x0, y0, z0, x1, y1, z1] in metres cut into voxels of `voxel_size` (x, y, z)."""

    point_range: tuple[float, float, float, float, float, float]
    voxel_size: tuple[float, float, float]

    def __post_init__(self) -> None:
        lo, hi = self.point_range[:3], self.point_range[3:]
        if any(h <= l for l, h in zip(lo, hi)) or any(v <= 0 for v in self.voxel_size):
            raise UsageError(
                f"invalid voxel grid: range {self.point_range}, voxel size {self.voxel_size}",
                "Give a range with min < max on every axis and positive voxel sizes.",
            )

    @property
    def shape(self) -> tuple[int, int, int]:
        """Grid size (X, Y, Z) in voxels."""
        return tuple(  # type: ignore[return-value]
            math.ceil(round((self.point_range[i + 3] - self.point_range[i]) / self.voxel_size[i], 4))
            for i in range(3)
        )


@dataclass(frozen=True)
class Voxels:
    """Voxelized point clouds: features [N, 7] float32, coords [N, 4] int32 (batch, z, y, x)."""

    features: Tensor
    coords: Tensor
    batch_size: int
    points_dropped: int = 0

    @property
    def num_voxels(self) -> int:
        return int(self.coords.shape[0])

    def subset(self, keep: Tensor) -> Voxels:
        """The voxels selected by index or bool mask `keep`, in the original order."""
        return Voxels(self.features[keep], self.coords[keep], self.batch_size, self.points_dropped)


def voxelize(points: Tensor | list[Tensor], grid: VoxelGrid) -> Voxels:
    """Voxelize one point cloud [P, 4+] or a list of them (one batch entry each).

    Points outside the grid's range are dropped and counted in `points_dropped`. Voxels come out
    sorted by (batch, z, y, x). Raises EdgeattnError for an empty cloud or when every point is
    outside the range.
    """
    clouds = points if isinstance(points, (list, tuple)) else [points]
    gx, gy, gz = grid.shape
    lo = torch.tensor(grid.point_range[:3], dtype=torch.float64)
    size = torch.tensor(grid.voxel_size, dtype=torch.float64)
    keys, feats, dropped = [], [], 0
    for batch, cloud in enumerate(clouds):
        cloud = _checked_cloud(cloud, batch)
        xyz = cloud[:, :3].double()
        cell = torch.floor((xyz - lo) / size).long()
        inside = ((cell >= 0) & (cell < torch.tensor([gx, gy, gz]))).all(dim=1)
        dropped += int((~inside).sum())
        cell = cell[inside]
        keys.append(((batch * gz + cell[:, 2]) * gy + cell[:, 1]) * gx + cell[:, 0])
        feats.append(cloud[inside, :4].double())
    key = torch.cat(keys)
    if key.numel() == 0:
        raise EdgeattnError(
            f"all {dropped} points lie outside the point-cloud range {grid.point_range}",
            "Check the point units (metres) and frame, or widen the grid's point_range.",
        )
    unique_keys, inverse = torch.unique(key, return_inverse=True)
    count = torch.bincount(inverse, minlength=unique_keys.numel()).double()[:, None]
    mean = torch.zeros(unique_keys.numel(), 4, dtype=torch.float64).index_add_(0, inverse, torch.cat(feats))
    mean = mean / count
    x = unique_keys % gx
    y = (unique_keys // gx) % gy
    z = (unique_keys // (gx * gy)) % gz
    b = unique_keys // (gx * gy * gz)
    centre = lo + (torch.stack([x, y, z], dim=1).double() + 0.5) * size
    features = torch.cat([mean, mean[:, :3] - centre], dim=1).float()
    coords = torch.stack([b, z, y, x], dim=1).int()
    return Voxels(features, coords, batch_size=len(clouds), points_dropped=dropped)


def _checked_cloud(cloud: Tensor, batch: int) -> Tensor:
    if not isinstance(cloud, Tensor) or cloud.dim() != 2 or cloud.shape[1] < 4:
        shape = tuple(cloud.shape) if isinstance(cloud, Tensor) else type(cloud).__name__
        raise UsageError(
            f"point cloud {batch} has shape {shape}; expected [P, 4+] (x, y, z, intensity, ...)",
            "Pass a float tensor with one point per row.",
        )
    if cloud.shape[0] == 0:
        raise EdgeattnError(
            f"point cloud {batch} is empty (0 points)",
            "Skip empty frames before voxelizing, or check the LiDAR driver output.",
        )
    if not cloud.is_floating_point():
        raise UsageError(f"point cloud {batch} has dtype {cloud.dtype}; expected a float dtype",
                         "Convert the points with .float() first.")
    return cloud
