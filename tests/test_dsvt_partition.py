"""DSVT inputs: set partition vs a plain loop, coverage of rotated/shifted sets, pooling, voxelizer, scenes."""

from __future__ import annotations

import math

import numpy as np
import pytest
import torch

from edgeattn.backbones.dsvt import pillar_config, voxel_config
from edgeattn.lidar.inputs import build_stack_inputs, pooling_regions
from edgeattn.lidar.layout import ROTATIONS
from edgeattn.lidar.partition import set_partition, window_partition
from edgeattn.lidar.scenes import synthetic_scene
from edgeattn.lidar.voxelize import VoxelGrid, voxelize

SEED = 42


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny tensors: one intra-op thread avoids oversubscription on small shared CI boxes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)
# name: (grid x, y, z, voxels, batch, window (x, y, z), shift (x, y, z), set size)
SCENES = {
    "flat-13x11-w5x3-t7": ((13, 11, 1), 63, 1, (5, 3, 1), (0, 0, 0), 7),
    "flat-37x29-shifted-w6x6-t5": ((37, 29, 1), 197, 2, (6, 6, 1), (3, 3, 0), 5),
    "3d-17x13x6-w4x4x3-t9": ((17, 13, 6), 300, 2, (4, 4, 3), (2, 2, 1), 9),
    "dense-7x7-w7x7-t36": ((7, 7, 1), 49, 1, (7, 7, 1), (0, 0, 0), 36),
}


def random_coords(grid, n, batch, seed=SEED):
    generator = torch.Generator().manual_seed(seed)
    gx, gy, gz = grid
    cells = torch.randperm(batch * gx * gy * gz, generator=generator)[:n]
    x, y = cells % gx, (cells // gx) % gy
    z, b = (cells // (gx * gy)) % gz, cells // (gx * gy * gz)
    return torch.stack([b, z, y, x], dim=1).int()


def loop_partition(coords, window, shift, set_size):
    """DSVT's set partition written voxel by voxel: windows, in-window order, Eq. 3 sampling."""
    wx, wy, wz = window
    sx, sy, sz = shift
    windows: dict[tuple, list[int]] = {}
    inner = {}
    for index, (b, z, y, x) in enumerate(coords.tolist()):
        key = (b, (z + sz) // wz, (y + sy) // wy, (x + sx) // wx)
        windows.setdefault(key, []).append(index)
        inner[index] = ((z + sz) % wz, (y + sy) % wy, (x + sx) % wx)
    orders = {
        "y_major": lambda i: (inner[i][1], inner[i][2], inner[i][0]),
        "x_major": lambda i: (inner[i][2], inner[i][1], inner[i][0]),
    }
    result = {}
    for rotation in ROTATIONS:
        sets, valid = [], []
        for key in sorted(windows):
            members = sorted(windows[key], key=orders[rotation])
            n = len(members)
            num_sets = math.ceil(n / set_size)
            for j in range(num_sets):
                ranks = [math.floor((j * set_size + k) * n / (num_sets * set_size)) for k in range(set_size)]
                sets.append([members[r] for r in ranks])
                valid.append([k == 0 or ranks[k] != ranks[k - 1] for k in range(set_size)])
        result[rotation] = (torch.tensor(sets), torch.tensor(valid))
    return result


@pytest.mark.parametrize("scene", SCENES.values(), ids=SCENES.keys())
def test_set_partition_matches_loop(scene):
    grid, n, batch, window, shift, set_size = scene
    coords = random_coords(grid, n, batch)
    sets = set_partition(window_partition(coords, window, shift), window, set_size)
    expected = loop_partition(coords, window, shift, set_size)
    for r, rotation in enumerate(ROTATIONS):
        torch.testing.assert_close(sets.set_inds[r], expected[rotation][0])
        torch.testing.assert_close(sets.set_valid[r], expected[rotation][1])


@pytest.mark.parametrize("scene", SCENES.values(), ids=SCENES.keys())
def test_every_voxel_is_valid_in_exactly_one_slot(scene):
    grid, n, batch, window, shift, set_size = scene
    coords = random_coords(grid, n, batch)
    windows = window_partition(coords, window, shift)
    sets = set_partition(windows, window, set_size)
    for r in range(len(ROTATIONS)):
        inds, valid, slot = sets.set_inds[r], sets.set_valid[r], sets.voxel_slot[r]
        assert torch.equal(torch.bincount(inds[valid], minlength=n), torch.ones(n, dtype=torch.long))
        assert torch.equal(inds.reshape(-1)[slot], torch.arange(n))
        assert valid.reshape(-1)[slot].all()
        assert valid[:, 0].all()
        duplicates = inds[:, 1:][~valid[:, 1:]]
        assert torch.equal(duplicates, inds[:, :-1][~valid[:, 1:]])
        set_windows = windows.window_id[inds]
        assert (set_windows == set_windows[:, :1]).all(), "a set crosses a window border"


def test_rotations_order_sets_y_major_then_x_major():
    grid, n, batch, window, shift, set_size = SCENES["flat-37x29-shifted-w6x6-t5"]
    coords = random_coords(grid, n, batch)
    windows = window_partition(coords, window, shift)
    sets = set_partition(windows, window, set_size)
    _, y, x = windows.coords_in_window.unbind(1)
    for r, key in enumerate((y * 100 + x, x * 100 + y)):
        ordered = key[sets.set_inds[r]]
        assert (ordered[:, 1:] >= ordered[:, :-1]).all()
    assert not torch.equal(sets.set_inds[0], sets.set_inds[1])


def test_shifted_windows_differ_and_cover_all_voxels():
    config = pillar_config()
    coords = random_coords(config.layout.grid.shape, 3000, 1)
    stage = config.layout.stages[0]
    plain = window_partition(coords, stage.window_shape(0), stage.window_shift(0))
    shifted = window_partition(coords, stage.window_shape(1), stage.window_shift(1))
    assert stage.window_shape(1) == (24, 24, 1) and stage.window_shift(1) == (6, 6, 0)
    assert plain.num_windows > shifted.num_windows
    assert (shifted.coords_in_window[:, 1:] < 24).all() and (plain.coords_in_window[:, 1:] < 12).all()


def test_pooling_regions_match_loop():
    coords = random_coords((9, 7, 12), 250, 2)
    pooling = pooling_regions(coords, (1, 1, 4))
    regions: dict[tuple, dict[int, int]] = {}
    for index, (b, z, y, x) in enumerate(coords.tolist()):
        regions.setdefault((b, z // 4, y, x), {})[z % 4] = index
    keys = sorted(regions)
    assert pooling.coords.tolist() == [list(k) for k in keys]
    for row, key in enumerate(keys):
        for slot in range(4):
            assert bool(pooling.valid[row, slot]) == (slot in regions[key])
            if slot in regions[key]:
                assert int(pooling.inds[row, slot]) == regions[key][slot]


def test_voxelize_matches_loop_means():
    grid = VoxelGrid((-2.0, -1.5, -1.0, 2.0, 1.5, 1.0), (0.5, 0.5, 2.0))
    generator = torch.Generator().manual_seed(SEED)
    points = torch.rand(197, 4, generator=generator) * torch.tensor([5.0, 4.0, 2.5, 1.0]) - torch.tensor(
        [2.5, 2.0, 1.25, 0.0])
    voxels = voxelize(points, grid)
    cells: dict[tuple, list] = {}
    dropped = 0
    for p in points.double().tolist():
        cell = tuple(math.floor((p[i] - grid.point_range[i]) / grid.voxel_size[i]) for i in range(3))
        if all(0 <= c < s for c, s in zip(cell, grid.shape)):
            cells.setdefault(cell, []).append(p)
        else:
            dropped += 1
    assert voxels.points_dropped == dropped > 0
    assert voxels.num_voxels == len(cells)
    for feature, (b, z, y, x) in zip(voxels.features, voxels.coords.tolist()):
        mean = np.mean(cells[(x, y, z)], axis=0)
        centre = [grid.point_range[i] + (c + 0.5) * grid.voxel_size[i] for i, c in enumerate((x, y, z))]
        np.testing.assert_allclose(feature[:4].numpy(), mean, atol=1e-5)
        np.testing.assert_allclose(feature[4:].numpy(), mean[:3] - centre, atol=1e-5)


def test_synthetic_scene_is_reproducible_and_realistic():
    points = synthetic_scene(SEED, azimuth_steps=1024)
    assert torch.equal(points, synthetic_scene(SEED, azimuth_steps=1024))
    assert not torch.equal(points, synthetic_scene(SEED + 1, azimuth_steps=1024))
    assert 30_000 < points.shape[0] < 200_000
    radius = points[:, :2].norm(dim=1)
    near = ((radius > 5) & (radius < 15)).sum() / (15**2 - 5**2)
    far = ((radius > 40) & (radius < 50)).sum() / (50**2 - 40**2)
    assert near > 5 * far, "point density must fall off with range"
    above_ground = points[:, 2] > 0.3
    assert 0.02 < above_ground.float().mean() < 0.6, "objects and clutter stand on the ground"


def test_stack_inputs_of_a_scene_have_dsvt_sizes():
    points = synthetic_scene(SEED, azimuth_steps=512)
    for config, stages in ((pillar_config(), 1), (voxel_config(), 4)):
        inputs = build_stack_inputs(voxelize(points, config.layout.grid), config.layout)
        dims = inputs.dims(config.layout)
        assert len([d for d in dims if d.startswith("voxels")]) == stages
        for i in range(1, stages):
            assert dims[f"voxels_s{i}"] <= dims[f"voxels_s{i - 1}"]
        set_size = config.layout.stages[0].set_size
        assert dims["sets_s0_shift0"] * set_size >= dims["voxels_s0"]
