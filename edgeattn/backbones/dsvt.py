"""DSVT (Dynamic Sparse Voxel Transformer, CVPR 2023): native LiDAR backbones with set attention.

Split as the DSVT authors deploy it: `edgeattn.lidar` voxelizes points and computes the window/set
partition, positions and pooling regions in PyTorch (data-dependent); `DSVTStack` (the attention
stack, exported to ONNX/TensorRT) takes those as inputs; `DSVT` glues both and scatters the final
voxels into a dense BEV map [B, C*Z, Y, X].

Differences from the official code, on purpose: layer r of a block takes the position embedding of
its own block's window configuration (the official code indexes it by layer); pooling masks empty
region slots (the official code attends to zero placeholders); the voxel encoder is a per-voxel MLP
on `edgeattn.lidar.voxelize` features (mean point + centre offset) instead of a PointNet over points.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from typing import Any

import torch
import torch.nn.functional as F
from timm.models import register_model
from torch import Tensor, nn

from edgeattn.backbones.spec import ModelSpec
from edgeattn.errors import UsageError
from edgeattn.lidar.inputs import build_stack_inputs, stack_input_names
from edgeattn.lidar.layout import DSVTLayout, StageLayout
from edgeattn.lidar.voxelize import VOXEL_FEATURES, VoxelGrid, Voxels

WAYMO_RANGE = (-74.88, -74.88, -2.0, 74.88, 74.88, 4.0)


@dataclass(frozen=True)
class DSVTConfig:
    """Layout (geometry) plus widths per stage."""

    layout: DSVTLayout
    dims: tuple[int, ...]
    heads: tuple[int, ...]
    ffn: tuple[int, ...]
    in_channels: int = len(VOXEL_FEATURES)
    pool_heads: int = 8

    def widths(self, dim: int, heads: int, ffn: int) -> DSVTConfig:
        """The same geometry with every stage at width `dim`, `heads` heads and FFN width `ffn`."""
        n = len(self.layout.stages)
        return replace(self, dims=(dim,) * n, heads=(heads,) * n, ffn=(ffn,) * n,
                       pool_heads=min(self.pool_heads, heads))


class PositionEmbedding(nn.Module):
    """Learned embedding of centred in-window coordinates: Linear -> BatchNorm -> ReLU -> Linear."""

    def __init__(self, in_dims: int, dim: int) -> None:
        super().__init__()
        self.mlp = nn.Sequential(nn.Linear(in_dims, dim), nn.BatchNorm1d(dim), nn.ReLU(), nn.Linear(dim, dim))

    def forward(self, position: Tensor) -> Tensor:
        return self.mlp(position)


class VoxelSetAttention(nn.Module):
    """Multi-head attention inside fixed-size voxel sets, written back to the voxels, with its projections.

    qk, x [N, C] (queries and keys project qk, values project x); set_inds [S, T] voxel of every set slot;
    set_valid [S, T] False for padding repeats (masked as keys); voxel_slot [N] the flat slot s*T + t whose
    output each voxel takes."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.q_proj, self.k_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.v_proj, self.out_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, qk: Tensor, x: Tensor, set_inds: Tensor, set_valid: Tensor, voxel_slot: Tensor) -> Tensor:
        sets, size = set_inds.shape
        channels = x.shape[1]

        def to_sets(t: Tensor) -> Tensor:
            return t.index_select(0, set_inds.reshape(-1)).reshape(sets, size, self.heads, -1).transpose(1, 2)

        out = F.scaled_dot_product_attention(to_sets(self.q_proj(qk)), to_sets(self.k_proj(qk)),
                                             to_sets(self.v_proj(x)), attn_mask=set_valid[:, None, None, :],
                                             scale=self.scale)
        out = out.transpose(1, 2).reshape(sets * size, channels).index_select(0, voxel_slot.reshape(-1))
        return self.out_proj(out)


class RegionAttention(nn.Module):
    """Multi-head attention of one query per pooling region over its member voxels, with its projections.

    query [R, C]; keys [R, V, C] (members + slot position); members [R, V, C]; key_mask [R, V] True for
    real members (every region has one)."""

    def __init__(self, dim: int, heads: int) -> None:
        super().__init__()
        self.heads, self.scale = heads, (dim // heads) ** -0.5
        self.q_proj, self.k_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)
        self.v_proj, self.out_proj = nn.Linear(dim, dim), nn.Linear(dim, dim)

    def forward(self, query: Tensor, keys: Tensor, members: Tensor, key_mask: Tensor) -> Tensor:
        regions, dim = query.shape

        def heads(t: Tensor) -> Tensor:
            return t.reshape(regions, -1, self.heads, dim // self.heads).transpose(1, 2)

        out = F.scaled_dot_product_attention(heads(self.q_proj(query)), heads(self.k_proj(keys)),
                                             heads(self.v_proj(members)), attn_mask=key_mask[:, None, None, :],
                                             scale=self.scale)
        return self.out_proj(out.transpose(1, 2).reshape(regions, dim))


class SetAttentionLayer(nn.Module):
    """DSVT encoder layer: set attention (q = k = x + pos, v = x) + FFN, post-norm, outer residual norm."""

    def __init__(self, dim: int, heads: int, ffn: int) -> None:
        super().__init__()
        self.attention = VoxelSetAttention(dim, heads)
        self.linear1, self.linear2 = nn.Linear(dim, ffn), nn.Linear(ffn, dim)
        self.norm1, self.norm2, self.norm = nn.LayerNorm(dim), nn.LayerNorm(dim), nn.LayerNorm(dim)

    def forward(self, x: Tensor, pos: Tensor, set_inds: Tensor, set_valid: Tensor, voxel_slot: Tensor) -> Tensor:
        y = self.norm1(x + self.attention(x + pos, x, set_inds, set_valid, voxel_slot))
        y = self.norm2(y + self.linear2(F.gelu(self.linear1(y))))
        return self.norm(y + x)


class DSVTBlock(nn.Module):
    """Two set-attention layers on one window configuration: y-major sets, then x-major sets."""

    def __init__(self, dim: int, heads: int, ffn: int, pos_dims: int) -> None:
        super().__init__()
        self.layers = nn.ModuleList([SetAttentionLayer(dim, heads, ffn) for _ in range(2)])
        self.pos_embeds = nn.ModuleList([PositionEmbedding(pos_dims, dim) for _ in range(2)])

    def forward(self, x: Tensor, set_inds: Tensor, set_valid: Tensor, voxel_slot: Tensor, win_pos: Tensor) -> Tensor:
        for rotation, (layer, pos_embed) in enumerate(zip(self.layers, self.pos_embeds)):
            x = layer(x, pos_embed(win_pos), set_inds[rotation], set_valid[rotation], voxel_slot[rotation])
        return x


class AttentionPool(nn.Module):
    """Region pooling: query = max over members, keys = members + learned slot position, MHA, LayerNorm."""

    def __init__(self, dim: int, volume: int, heads: int) -> None:
        super().__init__()
        self.attention = RegionAttention(dim, heads)
        self.pos = nn.Parameter(torch.randn(volume, dim) * 0.01)
        self.norm = nn.LayerNorm(dim)

    def forward(self, x: Tensor, inds: Tensor, valid: Tensor) -> Tensor:
        regions, volume = inds.shape
        members = x.index_select(0, inds.reshape(-1)).reshape(regions, volume, x.shape[1])
        query = members.masked_fill(~valid[:, :, None], float("-inf")).amax(dim=1)
        return self.norm(self.attention(query, members + self.pos, members, valid) + query)


class DSVTStack(nn.Module):
    """The exported part: voxel encoder, set-attention blocks, pooling. Inputs: `stack_input_names`."""

    def __init__(self, config: DSVTConfig) -> None:
        super().__init__()
        layout = config.layout
        self.layout = layout
        self.input_names = stack_input_names(layout)
        self.block_shifts = layout.block_shifts()
        self.voxel_embed = nn.Sequential(nn.Linear(config.in_channels, config.dims[0]),
                                         nn.LayerNorm(config.dims[0]), nn.ReLU())
        self.stages = nn.ModuleList()
        self.residual_norms = nn.ModuleList()
        self.pools = nn.ModuleList()
        for i, stage in enumerate(layout.stages):
            dim = config.dims[i]
            self.stages.append(nn.ModuleList(
                DSVTBlock(dim, config.heads[i], config.ffn[i], layout.pos_dims(i)) for _ in range(stage.blocks)))
            self.residual_norms.append(nn.ModuleList(nn.LayerNorm(dim) for _ in range(stage.blocks)))
            if i < len(layout.stages) - 1:
                if config.dims[i + 1] != dim:
                    raise UsageError(f"DSVT stage widths {config.dims} differ",
                                     "Attention pooling keeps the width: use the same dim in every stage.")
                self.pools.append(AttentionPool(dim, stage.pool_volume, config.pool_heads))

    def forward(self, *inputs: Tensor) -> Tensor:
        named = dict(zip(self.input_names, inputs))
        x = self.voxel_embed(named["voxel_feats"])
        for i, (blocks, norms) in enumerate(zip(self.stages, self.residual_norms)):
            for block, norm, shift in zip(blocks, norms, self.block_shifts[i]):
                tag = f"s{i}_shift{shift}"
                y = block(x, named[f"set_inds_{tag}"], named[f"set_valid_{tag}"],
                          named[f"voxel_slot_{tag}"], named[f"win_pos_{tag}"])
                x = norm(y + x)
            if i < len(self.pools):
                x = self.pools[i](x, named[f"pool_inds_s{i}"], named[f"pool_valid_s{i}"])
        return x


class DSVT(nn.Module):
    """Voxels -> partition (PyTorch) -> attention stack -> dense BEV map [B, C*Z, Y, X]."""

    def __init__(self, config: DSVTConfig) -> None:
        super().__init__()
        self.config = config
        self.layout = config.layout
        self.stack = DSVTStack(config)
        self.out_channels = config.dims[-1] * self.layout.stage_grid(len(self.layout.stages) - 1)[2]

    def forward(self, voxel_feats: Tensor, coords: Tensor, batch_size: int | None = None) -> Tensor:
        """voxel_feats [N, 7] float, coords [N, 4] int (batch, z, y, x) on `self.layout.grid`."""
        if batch_size is None:
            batch_size = int(coords[:, 0].max()) + 1 if coords.numel() else 1
        inputs = build_stack_inputs(Voxels(voxel_feats, coords, batch_size), self.layout)
        features = self.stack(*inputs.as_tuple())
        return self.scatter_bev(features, inputs.stage_coords[-1], batch_size)

    def scatter_bev(self, features: Tensor, coords: Tensor, batch_size: int) -> Tensor:
        """Last-stage voxels into a zero BEV grid; z levels stacked into channels."""
        gx, gy, gz = self.layout.stage_grid(len(self.layout.stages) - 1)
        channels = features.shape[1]
        bev = features.new_zeros(batch_size, gz, gy, gx, channels)
        b, z, y, x = coords.long().unbind(dim=1)
        bev[b, z, y, x] = features
        return bev.permute(0, 1, 4, 2, 3).reshape(batch_size, gz * channels, gy, gx)


def pillar_config() -> DSVTConfig:
    """Waymo DSVT-P: 468x468 pillars of 0.32 m, windows 12x12 / shifted 24x24, sets of 36, 4 blocks."""
    grid = VoxelGrid(WAYMO_RANGE, (0.32, 0.32, 6.0))
    stage = StageLayout(window=(12, 12, 1), set_size=36, blocks=4, shift=(6, 6, 0), hybrid=(2, 2, 1))
    return DSVTConfig(DSVTLayout(grid, (stage,)), dims=(192,), heads=(8,), ffn=(384,))


def voxel_config() -> DSVTConfig:
    """Waymo DSVT-V: 468x468x32 voxels, windows 12x12x{32,8,2,1}, sets of 48, z-only attention pooling."""
    grid = VoxelGrid(WAYMO_RANGE, (0.32, 0.32, 0.1875))
    windows_z, strides_z = (32, 8, 2, 1), (4, 4, 2, None)
    stages = tuple(
        StageLayout(window=(12, 12, wz), set_size=48, blocks=1, shift=(6, 6, 0), hybrid=(2, 2, 1),
                    downsample=(1, 1, sz) if sz else None)
        for wz, sz in zip(windows_z, strides_z)
    )
    return DSVTConfig(DSVTLayout(grid, stages), dims=(192,) * 4, heads=(8,) * 4, ffn=(384,) * 4)


def _init_weights(model: nn.Module) -> None:
    for name, p in model.named_parameters():
        if p.dim() > 1 and not name.endswith(".pos"):
            nn.init.xavier_uniform_(p)


def _create(config: DSVTConfig, pretrained: bool, kwargs: dict[str, Any]) -> DSVT:
    if pretrained:
        raise UsageError("DSVT has no downloadable pretrained weights in edgeattn",
                         "Pass a checkpoint (--checkpoint PATH) or use random init.")
    widths = {k: kwargs.pop(k) for k in ("dim", "heads", "ffn") if k in kwargs}
    for key in ("pretrained_cfg", "pretrained_cfg_overlay", "cache_dir"):
        kwargs.pop(key, None)
    if kwargs:
        raise TypeError(f"unexpected DSVT arguments: {sorted(kwargs)}")
    if widths:
        config = config.widths(widths.get("dim", config.dims[0]), widths.get("heads", config.heads[0]),
                               widths.get("ffn", config.ffn[0]))
    model = DSVT(config)
    _init_weights(model)
    return model


@register_model
def dsvt_pillar(pretrained: bool = False, **kwargs: Any) -> DSVT:
    """DSVT-P (pillars). Optional `dim`, `heads`, `ffn` override every stage's width (tests)."""
    return _create(pillar_config(), pretrained, kwargs)


@register_model
def dsvt_voxel(pretrained: bool = False, **kwargs: Any) -> DSVT:
    """DSVT-V (3D voxels, z-only attention pooling). Optional `dim`, `heads`, `ffn` as for dsvt_pillar."""
    return _create(voxel_config(), pretrained, kwargs)


_FACTS: dict[str, Any] = {
    "family": "dsvt",
    "source": "native",
    "input_kind": "voxels",
    "input_size": (len(VOXEL_FEATURES), 468, 468),
    "mean": (0.0, 0.0, 0.0),
    "std": (1.0, 1.0, 1.0),
    "stride": 1,
    "fp32_sensitive": ("LayerNorm after every set-attention layer", "softmax over masked set keys"),
    "dynamic_axes": ("voxels", "sets"),
    "opset": 18,
}

SPECS = [
    ModelSpec(name="dsvt_pillar", timm_name="dsvt_pillar",
              notes="468x468 pillars; 4 blocks x 2 set-attention layers, width 192, 8 heads, sets of 36; "
                    "partition runs in PyTorch, the attention stack in the engine.",
              **_FACTS),
    ModelSpec(name="dsvt_voxel", timm_name="dsvt_voxel",
              notes="468x468x32 voxels; 4 stages with z-only attention pooling (8 heads) between them; "
                    "sets of 48.",
              **_FACTS),
]
