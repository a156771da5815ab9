"""DSVT bad inputs: each raises one EdgeattnError saying what went wrong and what to do."""

from __future__ import annotations

import pytest
import torch

from edgeattn.backbones.dsvt import DSVT, pillar_config
from edgeattn.errors import EdgeattnError, UsageError
from edgeattn.lidar.inputs import build_stack_inputs
from edgeattn.lidar.profiles import build_profile
from edgeattn.lidar.voxelize import Voxels, voxelize

GRID = pillar_config().layout.grid


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny tensors: one intra-op thread avoids oversubscription on small shared CI boxes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def cloud(n: int, scale: float = 20.0, seed: int = 42) -> torch.Tensor:
    generator = torch.Generator().manual_seed(seed)
    points = torch.randn(n, 4, generator=generator) * scale
    points[:, 2] = points[:, 2].clamp(-1.5, 3.5) / scale
    return points


def test_empty_point_cloud():
    with pytest.raises(EdgeattnError, match="empty") as info:
        voxelize(torch.zeros(0, 4), GRID)
    assert "Skip empty frames" in info.value.hint


def test_all_points_outside_the_range():
    far = cloud(63) + torch.tensor([500.0, 0.0, 0.0, 0.0])
    with pytest.raises(EdgeattnError, match="all 63 points lie outside") as info:
        voxelize(far, GRID)
    assert "point_range" in info.value.hint


def test_points_outside_the_range_are_counted():
    points = torch.cat([cloud(197), cloud(13) + torch.tensor([0.0, 0.0, 50.0, 0.0])])
    voxels = voxelize(points, GRID)
    assert voxels.points_dropped == 13
    assert voxels.num_voxels > 0


def test_wrong_coordinate_dtype():
    voxels = voxelize(cloud(197), GRID)
    float_coords = Voxels(voxels.features, voxels.coords.float(), 1)
    with pytest.raises(UsageError, match="dtype float32; expected int32 or int64"):
        build_stack_inputs(float_coords, pillar_config().layout)
    model = DSVT(pillar_config().widths(16, 2, 32)).eval()
    with pytest.raises(UsageError, match="dtype"):
        model(voxels.features, voxels.coords.float())


def test_coordinates_outside_the_grid_and_duplicates():
    layout = pillar_config().layout
    voxels = voxelize(cloud(197), GRID)
    shifted = voxels.coords.clone()
    shifted[0, 3] = 468
    with pytest.raises(UsageError, match="outside the grid"):
        build_stack_inputs(Voxels(voxels.features, shifted, 1), layout)
    twice = Voxels(voxels.features.repeat(2, 1), voxels.coords.repeat(2, 1), 1)
    with pytest.raises(UsageError, match="duplicates"):
        build_stack_inputs(twice, layout)


def test_voxel_count_above_profile_max():
    layout = pillar_config().layout
    small = build_stack_inputs(voxelize(cloud(500), GRID), layout)
    profile = build_profile(layout, [small])
    large = build_stack_inputs(voxelize(cloud(5000, seed=7), GRID), layout)
    with pytest.raises(EdgeattnError, match="voxels_s0 = .* exceeds the TensorRT profile maximum") as info:
        profile.check(large.dims(layout))
    assert "--profile-from" in info.value.hint
    profile.check(small.dims(layout))


def test_profile_needs_scenes():
    with pytest.raises(EdgeattnError, match="no scenes"):
        build_profile(pillar_config().layout, [])
