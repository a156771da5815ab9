"""DSVT modules against torch.nn.MultiheadAttention, and whole-model invariances (batch, voxel order)."""

from __future__ import annotations

import pytest
import torch
from torch import nn

from edgeattn.backbones import dsvt
from edgeattn.backbones.dsvt import (
    DSVT,
    AttentionPool,
    SetAttentionLayer,
    pillar_config,
    voxel_config,
)
from edgeattn.backbones.weights import create_model
from edgeattn.lidar.inputs import build_stack_inputs, pooling_regions
from edgeattn.lidar.partition import set_partition, window_partition
from edgeattn.lidar.scenes import synthetic_scene
from edgeattn.lidar.voxelize import Voxels, voxelize

SEED = 42


@pytest.fixture(scope="module", autouse=True)
def one_torch_thread():
    """Tiny tensors: one intra-op thread avoids oversubscription on small shared CI boxes."""
    threads = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(threads)


def torch_mha(dim: int, heads: int, q_proj, k_proj, v_proj, out_proj) -> nn.MultiheadAttention:
    mha = nn.MultiheadAttention(dim, heads, batch_first=True)
    with torch.no_grad():
        mha.in_proj_weight.copy_(torch.cat([q_proj.weight, k_proj.weight, v_proj.weight]))
        mha.in_proj_bias.copy_(torch.cat([q_proj.bias, k_proj.bias, v_proj.bias]))
        mha.out_proj.weight.copy_(out_proj.weight)
        mha.out_proj.bias.copy_(out_proj.bias)
    return mha.eval()


def random_voxels(n: int, grid=(31, 23, 1)):
    generator = torch.Generator().manual_seed(SEED)
    cells = torch.randperm(grid[0] * grid[1] * grid[2], generator=generator)[:n]
    x, y, z = cells % grid[0], (cells // grid[0]) % grid[1], cells // (grid[0] * grid[1])
    return torch.stack([torch.zeros_like(x), z, y, x], dim=1)


def test_set_attention_layer_matches_dsvt_formulation_with_torch_mha():
    torch.manual_seed(SEED)
    dim, heads, n = 24, 3, 197
    layer = SetAttentionLayer(dim, heads, 40).eval()
    coords = random_voxels(n)
    sets = set_partition(window_partition(coords, (6, 6, 1), (3, 3, 0)), (6, 6, 1), 7)
    inds, valid, slot = sets.set_inds[1], sets.set_valid[1], sets.voxel_slot[1]
    x, pos = torch.randn(n, dim), torch.randn(n, dim)
    att = layer.attention
    mha = torch_mha(dim, heads, att.q_proj, att.k_proj, att.v_proj, att.out_proj)
    with torch.no_grad():
        set_x, set_pos = x[inds], pos[inds]
        attended = mha(set_x + set_pos, set_x + set_pos, set_x, key_padding_mask=~valid)[0]
        scattered = torch.full_like(x, float("nan"))
        scattered[inds[valid]] = attended[valid]
        y = layer.norm1(x + scattered)
        y = layer.norm2(y + layer.linear2(nn.functional.gelu(layer.linear1(y))))
        expected = layer.norm(y + x)
        actual = layer(x, pos, inds, valid, slot)
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_attention_pool_matches_torch_mha_over_occupied_slots():
    torch.manual_seed(SEED)
    dim, heads = 16, 4
    pool = AttentionPool(dim, 4, heads).eval()
    coords = random_voxels(150, grid=(7, 5, 12))
    regions = pooling_regions(coords, (1, 1, 4))
    x = torch.randn(150, dim)
    att = pool.attention
    mha = torch_mha(dim, heads, att.q_proj, att.k_proj, att.v_proj, att.out_proj)
    rows = []
    with torch.no_grad():
        for inds, valid in zip(regions.inds, regions.valid):
            members = x[inds[valid]]
            query = members.max(dim=0, keepdim=True).values
            out = mha(query[None], (members + pool.pos[valid])[None], members[None])[0][0]
            rows.append(pool.norm(out + query)[0])
        actual = pool(x, regions.inds, regions.valid)
    assert not regions.valid.all(), "some regions must have empty slots"
    torch.testing.assert_close(actual, torch.stack(rows), atol=1e-5, rtol=1e-5)


@pytest.mark.parametrize("config", [pillar_config, voxel_config], ids=["pillar", "voxel"])
def test_voxel_order_and_batch_do_not_change_the_bev(config):
    torch.manual_seed(SEED)
    model = DSVT(config().widths(16, 2, 32)).eval()
    grid = model.layout.grid
    scenes = [synthetic_scene(SEED + i, azimuth_steps=128, beams=32) for i in range(2)]
    with torch.no_grad():
        singles = [model(v.features, v.coords) for v in (voxelize(p, grid) for p in scenes)]
        batch = voxelize(scenes, grid)
        both = model(batch.features, batch.coords)
        order = torch.randperm(batch.num_voxels, generator=torch.Generator().manual_seed(SEED))
        shuffled = model(batch.features[order], batch.coords[order])
    assert both.shape == (2, model.out_channels, 468, 468)
    torch.testing.assert_close(both, torch.cat(singles), atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(shuffled, both, atol=1e-5, rtol=1e-5)


def test_bev_is_zero_exactly_where_no_pillar_is():
    torch.manual_seed(SEED)
    model = DSVT(pillar_config().widths(16, 2, 32)).eval()
    voxels = voxelize(synthetic_scene(SEED, azimuth_steps=128, beams=32), model.layout.grid)
    with torch.no_grad():
        bev = model(voxels.features, voxels.coords)
    occupied = torch.zeros(468, 468, dtype=torch.bool)
    occupied[voxels.coords[:, 2].long(), voxels.coords[:, 3].long()] = True
    assert torch.equal(bev[0].abs().sum(0) > 0, occupied)


def test_stack_output_follows_stage_coordinates():
    model = DSVT(voxel_config().widths(16, 2, 32)).eval()
    voxels = voxelize(synthetic_scene(SEED, azimuth_steps=128, beams=32), model.layout.grid)
    inputs = build_stack_inputs(Voxels(voxels.features, voxels.coords, 1), model.layout)
    with torch.no_grad():
        out = model.stack(*inputs.as_tuple())
    assert out.shape == (inputs.stage_coords[-1].shape[0], 16)
    assert (inputs.stage_coords[-1][:, 1] == 0).all(), "z is pooled to one level in the last stage"


def test_checkpoint_round_trip_through_the_registry_loader(tmp_path):
    spec = next(s for s in dsvt.SPECS if s.name == "dsvt_voxel")
    original, _ = create_model(spec, seed=SEED)
    torch.save(original.state_dict(), tmp_path / "dsvt_voxel.pth")
    loaded, info = create_model(spec, checkpoint=tmp_path / "dsvt_voxel.pth", seed=SEED + 1)
    assert info.kind == "checkpoint"
    for (name, a), b in zip(original.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), name
