"""STViT (Super Token Vision Transformer, Huang et al. CVPR 2023): native timm-style model, filter, specs.

Paper: `Vision Transformer with Super Token Sampling` - https://arxiv.org/abs/2211.11167
Official code: https://github.com/hhb072/STViT (models/stvit.py).

A convolutional stem (four 3x3 conv -> GELU -> BN, stride 4 overall) feeds four stages of blocks
x = x + DW3x3(x); x = x + ls1 * attn(LN(x)); x = x + ls2 * ConvFFN(BN(x)), with a 3x3 stride-2
conv + BN between stages and a 1x1 conv (to 1024) + BN + SiLU before the pooled classifier.
Stages 1-2 use super token attention (`StokenAttention`: cells of 8x8 / 4x4 tokens; sample super
tokens, attend over them, map back); stages 3-4 (cells of one token) attend over all tokens
(`GlobalAttention`). Both are plain PyTorch, in the official code's order of operations.

Importing this module registers `stvit_s`, `stvit_b`, `stvit_l` with timm. Official checkpoints
(`layers.0.blocks.0.attn.stoken_refine.qkv`, ...) load through `checkpoint_filter_fn`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch
import torch.nn.functional as F
from timm.layers import DropPath, LayerNorm2d, LayerScale2d, SelectAdaptivePool2d, trunc_normal_
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from torch import Tensor, nn

from edgeattn.backbones.spec import ModelSpec
from edgeattn.errors import EdgeattnError, UsageError

__all__ = ["STViT", "StokenAttention", "GlobalAttention", "checkpoint_filter_fn", "SPECS"]

NORM_EPS = 1e-6
ASSOCIATION_EPS = 1e-12
"""Added to each super token's association mass before dividing by it (the official value)."""


class ResDWC(nn.Module):
    """x + DW3x3(x): STViT's convolutional position embedding (also inside the ConvFFN)."""

    def __init__(self, dim: int, kernel_size: int = 3):
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, kernel_size, padding=kernel_size // 2, groups=dim)

    def forward(self, x: Tensor) -> Tensor:
        return x + self.conv(x)


class ConvFFN(nn.Module):
    """1x1 -> GELU -> dropout -> ResDWC -> 1x1 -> dropout."""

    def __init__(self, dim: int, hidden_dim: int, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden_dim, 1)
        self.act = nn.GELU()
        self.drop = nn.Dropout(drop)
        self.dwconv = ResDWC(hidden_dim)
        self.fc2 = nn.Conv2d(hidden_dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        x = self.dwconv(self.drop(self.act(self.fc1(x))))
        return self.drop(self.fc2(x))


def _check_heads(dim: int, num_heads: int) -> None:
    if dim % num_heads:
        raise UsageError(f"STViT attention width {dim} is not a multiple of {num_heads} heads.",
                         "Pick num_heads dividing the stage width.")


def _map_attention(qkv: nn.Conv2d, proj: nn.Conv2d, x: Tensor, num_heads: int, scale: float) -> Tensor:
    """The official `Attention` on a [B, C, H, W] map: 1x1 qkv (per head [q, k, v] channel blocks),
    softmax attention between the H*W positions, 1x1 proj."""
    batch, channels, height, width = x.shape
    q, k, v = qkv(x).reshape(batch, num_heads, 3 * channels // num_heads, height * width).chunk(3, dim=2)
    attn = ((k.transpose(-1, -2) @ q) * scale).softmax(dim=-2)  # [B, heads, keys, queries]
    return proj((v @ attn).reshape(batch, channels, height, width))


class GlobalAttention(nn.Module):
    """Multi-head self-attention over all H*W tokens (STViT stages with 1x1 super-token cells).

    qkv / proj are 1x1 convs; the 3C qkv outputs are ordered per head [q (D), k (D), v (D)]."""

    def __init__(self, dim: int, num_heads: int):
        super().__init__()
        _check_heads(dim, num_heads)
        self.num_heads = num_heads
        self.scale = (dim // num_heads) ** -0.5
        self.qkv = nn.Conv2d(dim, 3 * dim, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        return _map_attention(self.qkv, self.proj, x, self.num_heads, self.scale)


def _unfold(maps: Tensor) -> Tensor:
    """Super-token map [B, C, hh, ww] -> each cell's 3x3 neighbours [B, hh*ww, C, 9] (zeros outside)."""
    batch, channels = maps.shape[:2]
    return F.unfold(maps, 3, padding=1).transpose(1, 2).reshape(batch, -1, channels, 9)


def _fold(per_cell: Tensor, rows: int, cols: int) -> Tensor:
    """[N, 9, hh, ww] contributions of each cell to its 3x3 neighbours -> summed per cell [N, 1, hh, ww]."""
    return F.fold(per_cell.flatten(2), (rows, cols), 3, padding=1)


class StokenAttention(nn.Module):
    """Super token attention (cells of h x w > 1 tokens), as the official `StokenAttention.stoken_forward`.

    Zero-pad the map to whole cells; super tokens start as cell means; n_iter times every token
    associates with the 9 super tokens around its cell (softmax of C^-0.5 <token, super token>) and
    the super tokens become association-weighted token means; multi-head self-attention over the
    super tokens (qkv / proj 1x1 convs, per-head [q, k, v] channels); every token is then the
    association-weighted sum of its 9 refined super tokens; padding cropped.
    """

    def __init__(self, dim: int, num_heads: int, stoken_size: tuple[int, int], n_iter: int = 1):
        super().__init__()
        _check_heads(dim, num_heads)
        if n_iter < 1:
            raise UsageError(f"STViT super token attention got n_iter={n_iter}.",
                             "Pass n_iter >= 1 (association iterations; the official models use 1).")
        self.num_heads = num_heads
        self.stoken_size = tuple(stoken_size)
        self.n_iter = n_iter
        self.scale = (dim // num_heads) ** -0.5
        self.assoc_scale = dim ** -0.5
        self.qkv = nn.Conv2d(dim, 3 * dim, 1)
        self.proj = nn.Conv2d(dim, dim, 1)

    def forward(self, x: Tensor) -> Tensor:
        batch, channels, height0, width0 = x.shape
        h, w = self.stoken_size
        x = F.pad(x, (0, -width0 % w, 0, -height0 % h))
        height, width = x.shape[-2:]
        rows, cols = height // h, width // w
        pixels = x.reshape(batch, channels, rows, h, cols, w).permute(0, 2, 4, 3, 5, 1)
        pixels = pixels.reshape(batch, rows * cols, h * w, channels)  # [B, M, T, C]
        stokens = F.adaptive_avg_pool2d(x, (rows, cols))  # [B, C, hh, ww]
        for _ in range(self.n_iter):
            affinity = (pixels @ _unfold(stokens) * self.assoc_scale).softmax(-1)  # [B, M, T, 9]
            mass = _fold(affinity.sum(2).transpose(1, 2).reshape(batch, 9, rows, cols), rows, cols)
            weighted = (pixels.transpose(-1, -2) @ affinity).permute(0, 2, 3, 1)  # [B, C, 9, M]
            weighted = _fold(weighted.reshape(batch * channels, 9, rows, cols), rows, cols)
            stokens = weighted.reshape(batch, channels, rows, cols) / (mass + ASSOCIATION_EPS)
        stokens = _map_attention(self.qkv, self.proj, stokens, self.num_heads, self.scale)
        pixels = _unfold(stokens) @ affinity.transpose(-1, -2)  # [B, M, C, T]
        pixels = pixels.reshape(batch, rows, cols, channels, h, w).permute(0, 3, 1, 4, 2, 5)
        return pixels.reshape(batch, channels, height, width)[:, :, :height0, :width0]


class StokenBlock(nn.Module):
    """x + DW3x3(x); x + drop_path(ls1 * attn(LN(x))); x + drop_path(ls2 * ffn(BN(x)))."""

    def __init__(self, dim: int, num_heads: int, stoken_size: tuple[int, int], n_iter: int = 1,
                 mlp_ratio: float = 4.0, drop: float = 0.0, drop_path: float = 0.0,
                 layer_scale_init: float | None = None):
        super().__init__()
        self.pos_embed = ResDWC(dim)
        self.norm1 = LayerNorm2d(dim, eps=NORM_EPS)
        cells = tuple(stoken_size)
        self.attn = (StokenAttention(dim, num_heads, cells, n_iter) if max(cells) > 1
                     else GlobalAttention(dim, num_heads))
        self.ls1 = LayerScale2d(dim, layer_scale_init) if layer_scale_init else nn.Identity()
        self.drop_path1 = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.BatchNorm2d(dim)
        self.mlp = ConvFFN(dim, int(dim * mlp_ratio), drop)
        self.ls2 = LayerScale2d(dim, layer_scale_init) if layer_scale_init else nn.Identity()
        self.drop_path2 = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x: Tensor) -> Tensor:
        x = self.pos_embed(x)
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x))))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Deployment: fold norm2 (eval statistics) into the FFN's first 1x1 conv, exactly."""
        if isinstance(self.norm2, nn.Identity):
            return
        bn = self.norm2
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        shift = bn.bias - bn.running_mean * scale
        fc1 = self.mlp.fc1
        fc1.bias.add_(fc1.weight[:, :, 0, 0] @ shift)
        fc1.weight.mul_(scale[None, :, None, None])
        self.norm2 = nn.Identity()


class ConvNorm(nn.Module):
    """Conv (bias) -> BatchNorm: the stage downsampling (3x3 s2) and the head projection (1x1)."""

    def __init__(self, in_chs: int, out_chs: int, kernel_size: int, stride: int = 1):
        super().__init__()
        self.conv = nn.Conv2d(in_chs, out_chs, kernel_size, stride=stride, padding=kernel_size // 2)
        self.norm = nn.BatchNorm2d(out_chs)

    def forward(self, x: Tensor) -> Tensor:
        return self.norm(self.conv(x))

    @torch.no_grad()
    def fuse(self) -> nn.Conv2d:
        """Deployment: the conv with the BatchNorm (eval statistics) folded in."""
        bn, conv = self.norm, self.conv
        scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
        fused = nn.Conv2d(conv.in_channels, conv.out_channels, conv.kernel_size, stride=conv.stride,
                          padding=conv.padding).to(conv.weight)
        fused.weight.copy_(conv.weight * scale[:, None, None, None])
        fused.bias.copy_((conv.bias - bn.running_mean) * scale + bn.bias)
        return fused


def _stem(in_chans: int, dim: int) -> nn.Sequential:
    """Four 3x3 convs (strides 2, 1, 2, 1), each followed by GELU then BatchNorm."""
    layers: list[nn.Module] = []
    widths = [in_chans, dim // 2, dim // 2, dim, dim]
    for index, stride in enumerate((2, 1, 2, 1)):
        layers += [nn.Conv2d(widths[index], widths[index + 1], 3, stride=stride, padding=1), nn.GELU(),
                   nn.BatchNorm2d(widths[index + 1])]
    return nn.Sequential(*layers)


class StokenStage(nn.Module):
    """Optional downsampling (3x3 s2 conv + BN) -> blocks."""

    def __init__(self, in_chs: int, dim: int, depth: int, num_heads: int, stoken_size: int,
                 n_iter: int, mlp_ratio: float, drop: float, drop_paths: list[float],
                 layer_scale_init: float | None, downsample: bool):
        super().__init__()
        self.downsample = ConvNorm(in_chs, dim, 3, stride=2) if downsample else nn.Identity()
        self.blocks = nn.Sequential(*[
            StokenBlock(dim, num_heads, (stoken_size, stoken_size), n_iter, mlp_ratio, drop,
                        drop_paths[i], layer_scale_init)
            for i in range(depth)
        ])

    def forward(self, x: Tensor) -> Tensor:
        return self.blocks(self.downsample(x))


class STViT(nn.Module):
    """Super Token Vision Transformer classifier (timm interface: forward_features / forward_head)."""

    def __init__(
        self,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "avg",
        embed_dims: tuple[int, ...] = (64, 128, 320, 512),
        depths: tuple[int, ...] = (3, 5, 9, 3),
        num_heads: tuple[int, ...] = (1, 2, 5, 8),
        stoken_sizes: tuple[int, ...] = (8, 4, 1, 1),
        n_iters: tuple[int, ...] = (1, 1, 1, 1),
        layer_scales: tuple[bool, ...] = (False, False, False, False),
        layer_scale_init: float = 1e-5,
        projection: int = 1024,
        mlp_ratio: float = 4.0,
        drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.stem = _stem(in_chans, embed_dims[0])
        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        self.feature_info: list[dict[str, Any]] = []
        stages, in_chs = [], embed_dims[0]
        for i, (dim, depth) in enumerate(zip(embed_dims, depths, strict=True)):
            start = sum(depths[:i])
            stages.append(StokenStage(
                in_chs, dim, depth, num_heads[i], stoken_sizes[i], n_iters[i], mlp_ratio, drop_rate,
                rates[start:start + depth], layer_scale_init if layer_scales[i] else None, downsample=i > 0,
            ))
            self.feature_info.append(dict(num_chs=dim, reduction=4 * 2**i, module=f"stages.{i}"))
            in_chs = dim
        self.stages = nn.Sequential(*stages)
        self.head_proj = ConvNorm(embed_dims[-1], projection, 1)
        self.head_act = nn.SiLU()
        self.num_features = self.head_hidden_size = projection
        self.pool = SelectAdaptivePool2d(pool_type=global_pool, flatten=bool(global_pool))
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(projection, num_classes) if num_classes > 0 else nn.Identity()
        self.apply(_init_weights)

    @torch.jit.ignore
    def get_classifier(self) -> nn.Module:
        return self.head

    def reset_classifier(self, num_classes: int, global_pool: str | None = None) -> None:
        """Replace the classifier (num_classes 0 removes it); optionally change the pooling."""
        self.num_classes = num_classes
        if global_pool is not None:
            self.global_pool = global_pool
            self.pool = SelectAdaptivePool2d(pool_type=global_pool, flatten=bool(global_pool))
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()

    def forward_intermediates(
        self,
        x: Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[Tensor] | tuple[Tensor, list[Tensor]]:
        """Stage outputs at `indices` (timm's feature-extraction API); the final map as forward_features."""
        if output_fmt != "NCHW":
            raise UsageError(f"STViT intermediates have no {output_fmt!r} format.", "Pass output_fmt='NCHW'.")
        take_indices, max_index = feature_take_indices(len(self.stages), indices)
        stages = self.stages[: max_index + 1] if stop_early else self.stages
        x = self.stem(x)
        intermediates = []
        for index, stage in enumerate(stages):
            x = stage(x)
            if index in take_indices:
                intermediates.append(x)
        if intermediates_only:
            return intermediates
        return self.head_act(self.head_proj(x)), intermediates

    def prune_intermediate_layers(
        self, indices: int | list[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the stages after the last requested intermediate (and, with it, the head)."""
        take_indices, max_index = feature_take_indices(len(self.stages), indices)
        self.stages = self.stages[: max_index + 1]
        if prune_head or max_index < len(self.feature_info) - 1:
            self.head_proj, self.head_act = nn.Identity(), nn.Identity()
            self.num_features = self.head_hidden_size = self.feature_info[max_index]["num_chs"]
            self.reset_classifier(0, "")
        return take_indices

    def forward_features(self, x: Tensor) -> Tensor:
        """[B, 3, H, W] -> [B, 1024, H/32, W/32] (after the 1x1 head projection, BN and SiLU)."""
        return self.head_act(self.head_proj(self.stages(self.stem(x))))

    def forward_head(self, x: Tensor, pre_logits: bool = False) -> Tensor:
        """Global pool (average by default) -> dropout -> linear classifier (pre_logits stops before it)."""
        x = self.head_drop(self.pool(x))
        return x if pre_logits else self.head(x)

    def forward(self, x: Tensor) -> Tensor:
        return self.forward_head(self.forward_features(x))


def _init_weights(module: nn.Module) -> None:
    """The official initialisation: truncated-normal linear layers; convs keep PyTorch's default."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)


_OFFICIAL_RULES = [
    (r"^patch_embed\.proj\.", "stem."),
    (r"^layers\.(\d)\.downsample\.proj\.0\.", lambda m: f"stages.{int(m[1]) + 1}.downsample.conv."),
    (r"^layers\.(\d)\.downsample\.proj\.1\.", lambda m: f"stages.{int(m[1]) + 1}.downsample.norm."),
    (r"^layers\.(\d)\.blocks\.", r"stages.\1.blocks."),
    (r"\.norm1\.norm\.", ".norm1."),
    (r"\.attn\.stoken_refine\.", ".attn."),
    (r"\.mlp2\.conv\.", ".mlp.dwconv."),
    (r"\.mlp2\.", ".mlp."),
    (r"\.gamma_1$", ".ls1.gamma"),
    (r"\.gamma_2$", ".ls2.gamma"),
    (r"^proj\.", "head_proj.conv."),
    (r"^norm\.", "head_proj.norm."),
]

_CONSTANT_KERNELS = re.compile(r"\.attn\.(un)?fold\.weights$")
"""The official Unfold/Fold modules keep fixed identity kernels as (frozen) parameters: dropped."""


def _check_identity_kernel(key: str, value: Tensor) -> None:
    taps = value.shape[0]
    side = math.isqrt(taps)
    expected = torch.eye(taps).reshape(taps, 1, side, side)
    if value.shape != expected.shape or not torch.equal(value.float().cpu(), expected):
        raise EdgeattnError(f"STViT checkpoint key {key} is not the fixed 3x3 identity kernel.",
                            "The checkpoint is not an official STViT checkpoint; re-export it from the official code.")


def _rename(key: str) -> str:
    for pattern, replacement in _OFFICIAL_RULES:
        key = re.sub(pattern, replacement, key)
    return key


def checkpoint_filter_fn(state_dict: dict[str, Tensor], model: nn.Module) -> dict[str, Tensor]:
    """Map official hhb072/STViT keys to this module's key names.

    Accepts a bare state dict or one wrapped under "model"/"state_dict" (the official main.py saves
    {"model": ..., "optimizer": ...}). Official keys: `patch_embed.proj.0`, `layers.0.blocks.0.norm1.norm`,
    `layers.0.blocks.0.attn.stoken_refine.qkv`, `layers.0.blocks.0.mlp2.conv.conv`, `gamma_1`
    ([1, C, 1, 1]), `layers.0.downsample.proj.0` (the downsampling into stage 1), `proj`, `norm`, `head`.
    The frozen identity kernels `attn.unfold.weights` / `attn.fold.weights` are checked and dropped;
    classifier weights are dropped when the model has no classifier.
    """
    for wrapper in ("model", "state_dict"):
        if isinstance(state_dict.get(wrapper), dict):
            state_dict = state_dict[wrapper]
    official = any(k.startswith(("layers.", "patch_embed.proj.")) for k in state_dict)
    has_head = getattr(model, "num_classes", 0) > 0
    out = {}
    for key, value in state_dict.items():
        if official and _CONSTANT_KERNELS.search(key):
            _check_identity_kernel(key, value)
            continue
        if official:
            key = _rename(key)
            if key.endswith((".ls1.gamma", ".ls2.gamma")):
                value = value.reshape(-1)
        if key.startswith("head.") and not has_head:
            continue
        out[key] = value
    return out


def _cfg(**kwargs: Any) -> dict[str, Any]:
    """Evaluation defaults of the official repo (DeiT pipeline: resize 256/224, ImageNet mean/std)."""
    return {
        "url": "",
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "pool_size": (7, 7),
        "crop_pct": 0.875,
        "interpolation": "bicubic",
        "mean": (0.485, 0.456, 0.406),
        "std": (0.229, 0.224, 0.225),
        "first_conv": "stem.0",
        "classifier": "head",
        "license": "mit",
        "paper_ids": "arXiv:2211.11167",
        "paper_name": "Vision Transformer with Super Token Sampling",
        "origin_url": "https://github.com/hhb072/STViT",
        **kwargs,
    }


default_cfgs = generate_default_cfgs({name: _cfg() for name in ("stvit_s", "stvit_b", "stvit_l")})


def _create_stvit(variant: str, pretrained: bool = False, **kwargs: Any) -> STViT:
    return build_model_with_cfg(
        STViT,
        variant,
        pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=dict(out_indices=(0, 1, 2, 3), feature_cls="getter"),
        **kwargs,
    )


_DEEP_LAYER_SCALE = dict(layer_scales=(False, False, True, True), layer_scale_init=1e-6)


@register_model
def stvit_s(pretrained: bool = False, **kwargs: Any) -> STViT:
    args = dict(embed_dims=(64, 128, 320, 512), depths=(3, 5, 9, 3), num_heads=(1, 2, 5, 8))
    return _create_stvit("stvit_s", pretrained, **dict(args, **kwargs))


@register_model
def stvit_b(pretrained: bool = False, **kwargs: Any) -> STViT:
    args = dict(embed_dims=(96, 192, 384, 512), depths=(4, 6, 14, 6), num_heads=(2, 3, 6, 8), **_DEEP_LAYER_SCALE)
    return _create_stvit("stvit_b", pretrained, **dict(args, **kwargs))


@register_model
def stvit_l(pretrained: bool = False, **kwargs: Any) -> STViT:
    args = dict(embed_dims=(96, 192, 448, 640), depths=(4, 7, 19, 8), num_heads=(2, 3, 7, 10), **_DEEP_LAYER_SCALE)
    return _create_stvit("stvit_l", pretrained, **dict(args, **kwargs))


_FACTS = dict(
    family="stvit",
    source="native",
    stride=32,
    fp32_sensitive=("LayerNorm before each attention", "association softmax and its normalising division"),
    pretrained_tag=None,
    test_resolution=64,
    notes=(
        "Native (not in timm). Stages 1-2: super token attention (8x8 / 4x4 token cells, one association "
        "iteration); stages 3-4: global multi-head attention. No hub weights: pass an official "
        "hhb072/STViT checkpoint with --checkpoint."
    ),
)

SPECS = [
    ModelSpec(name="stvit_s", timm_name="stvit_s", **_FACTS),
    ModelSpec(name="stvit_b", timm_name="stvit_b", **_FACTS),
    ModelSpec(name="stvit_l", timm_name="stvit_l", **_FACTS),
]
