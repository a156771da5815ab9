"""VAN (Visual Attention Network, Guo et al. 2022): native timm-style model, checkpoint filter, specs.

Paper: `Visual Attention Network` - https://arxiv.org/abs/2202.09741
Official code: https://github.com/Visual-Attention-Network/VAN-Classification (models/van.py).

Large kernel attention (LKA) gates its input with a decomposed 21x21 depthwise conv:
x * Conv1x1(DW7x7 dilation 3 (DW5x5 (x))), no sigmoid. Each block is BN -> (1x1 -> GELU -> LKA -> 1x1
+ shortcut) and BN -> MLP (1x1 -> DW3x3 -> GELU -> 1x1), both layer-scaled (1e-2) with drop path.
Four stages, each an overlapping patch embed (7x7 s4, then 3x3 s2) with BN, blocks, and a LayerNorm.

Importing this module registers `van_b0..van_b3` with timm. Official and Hugging Face transformers
(`VanModel` / `VanForImageClassification`) checkpoints load through `checkpoint_filter_fn`.
"""

from __future__ import annotations

import math
import re
from typing import Any

import torch
from timm.layers import DropPath, LayerNorm2d, LayerScale2d, SelectAdaptivePool2d, trunc_normal_
from timm.models import build_model_with_cfg, generate_default_cfgs, register_model
from timm.models._features import feature_take_indices
from torch import nn

from edgeattn.backbones.spec import ModelSpec
from edgeattn.errors import UsageError

__all__ = ["VAN", "LKA", "checkpoint_filter_fn", "SPECS"]

LAYER_SCALE_INIT = 1e-2
NORM_EPS = 1e-6


def _batchnorm_affine(bn: nn.BatchNorm2d) -> tuple[torch.Tensor, torch.Tensor]:
    """(scale, shift) with bn(x) == x * scale + shift per channel, from the running statistics."""
    scale = bn.weight / torch.sqrt(bn.running_var + bn.eps)
    return scale, bn.bias - bn.running_mean * scale


class LKA(nn.Module):
    """Large kernel attention: x * conv1(conv_spatial(conv0(x))).

    conv0 is depthwise 5x5 (padding 2), conv_spatial depthwise 7x7 dilation 3 (padding 9), together a
    21x21 receptive field; conv1 is a dense 1x1. An edgeattn op swaps this module for one that fuses
    conv0 and conv_spatial (`edgeattn models` lists it).
    """

    def __init__(self, dim: int):
        super().__init__()
        self.conv0 = nn.Conv2d(dim, dim, 5, padding=2, groups=dim)
        self.conv_spatial = nn.Conv2d(dim, dim, 7, padding=9, groups=dim, dilation=3)
        self.conv1 = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x * self.conv1(self.conv_spatial(self.conv0(x)))


class SpatialAttention(nn.Module):
    """VAN attention: 1x1 -> GELU -> LKA -> 1x1, plus the shortcut."""

    def __init__(self, dim: int, act_layer: type[nn.Module] = nn.GELU):
        super().__init__()
        self.proj_1 = nn.Conv2d(dim, dim, 1)
        self.act = act_layer()
        self.lka = LKA(dim)
        self.proj_2 = nn.Conv2d(dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.proj_2(self.lka(self.act(self.proj_1(x)))) + x


class ConvMlp(nn.Module):
    """PVTv2-style MLP on NCHW maps: 1x1 -> DW3x3 -> GELU -> dropout -> 1x1 -> dropout."""

    def __init__(self, dim: int, hidden_dim: int, act_layer: type[nn.Module] = nn.GELU, drop: float = 0.0):
        super().__init__()
        self.fc1 = nn.Conv2d(dim, hidden_dim, 1)
        self.dwconv = nn.Conv2d(hidden_dim, hidden_dim, 3, padding=1, groups=hidden_dim)
        self.act = act_layer()
        self.drop = nn.Dropout(drop)
        self.fc2 = nn.Conv2d(hidden_dim, dim, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.drop(self.act(self.dwconv(self.fc1(x))))
        return self.drop(self.fc2(x))


class VanBlock(nn.Module):
    """x + drop_path(ls1 * attn(bn(x))); x + drop_path(ls2 * mlp(bn(x)))."""

    def __init__(
        self,
        dim: int,
        mlp_ratio: float = 4.0,
        proj_drop: float = 0.0,
        drop_path: float = 0.0,
        act_layer: type[nn.Module] = nn.GELU,
        layer_scale_init: float = LAYER_SCALE_INIT,
    ):
        super().__init__()
        self.norm1 = nn.BatchNorm2d(dim)
        self.attn = SpatialAttention(dim, act_layer)
        self.ls1 = LayerScale2d(dim, layer_scale_init)
        self.drop_path1 = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()
        self.norm2 = nn.BatchNorm2d(dim)
        self.mlp = ConvMlp(dim, int(dim * mlp_ratio), act_layer, proj_drop)
        self.ls2 = LayerScale2d(dim, layer_scale_init)
        self.drop_path2 = DropPath(drop_path) if drop_path > 0.0 else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = x + self.drop_path1(self.ls1(self.attn(self.norm1(x))))
        return x + self.drop_path2(self.ls2(self.mlp(self.norm2(x))))

    @torch.no_grad()
    def reparameterize(self) -> None:
        """Deployment: fold norm2 (eval statistics) into the MLP's first 1x1 conv, exactly.

        norm1 stays: its output is also the attention's shortcut.
        """
        if isinstance(self.norm2, nn.Identity):
            return
        scale, shift = _batchnorm_affine(self.norm2)
        fc1 = self.mlp.fc1
        fc1.bias.add_(fc1.weight[:, :, 0, 0] @ shift)
        fc1.weight.mul_(scale[None, :, None, None])
        self.norm2 = nn.Identity()


class OverlapPatchEmbed(nn.Module):
    """Strided conv with kernel larger than stride (padding kernel // 2), then BatchNorm."""

    def __init__(self, in_chs: int, out_chs: int, patch_size: int, stride: int):
        super().__init__()
        self.proj = nn.Conv2d(in_chs, out_chs, patch_size, stride=stride, padding=patch_size // 2)
        self.norm = nn.BatchNorm2d(out_chs)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.proj(x))

    @torch.no_grad()
    def fuse(self) -> nn.Conv2d:
        """Deployment: the conv with the BatchNorm (eval statistics) folded in."""
        scale, shift = _batchnorm_affine(self.norm)
        proj = self.proj
        conv = nn.Conv2d(
            proj.in_channels, proj.out_channels, proj.kernel_size, stride=proj.stride, padding=proj.padding
        ).to(proj.weight)
        conv.weight.copy_(proj.weight * scale[:, None, None, None])
        conv.bias.copy_(proj.bias * scale + shift)
        return conv


class VanStage(nn.Module):
    """Patch embed -> blocks -> LayerNorm over channels."""

    def __init__(
        self,
        in_chs: int,
        dim: int,
        depth: int,
        patch_size: int,
        stride: int,
        mlp_ratio: float,
        proj_drop: float,
        drop_paths: list[float],
        act_layer: type[nn.Module] = nn.GELU,
    ):
        super().__init__()
        self.patch_embed = OverlapPatchEmbed(in_chs, dim, patch_size, stride)
        self.blocks = nn.Sequential(
            *[VanBlock(dim, mlp_ratio, proj_drop, drop_paths[i], act_layer) for i in range(depth)]
        )
        self.norm = LayerNorm2d(dim, eps=NORM_EPS)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.norm(self.blocks(self.patch_embed(x)))


class VAN(nn.Module):
    """Visual Attention Network classifier (timm interface: forward_features / forward_head)."""

    def __init__(
        self,
        in_chans: int = 3,
        num_classes: int = 1000,
        global_pool: str = "avg",
        embed_dims: tuple[int, ...] = (64, 128, 320, 512),
        depths: tuple[int, ...] = (3, 3, 12, 3),
        mlp_ratios: tuple[float, ...] = (8, 8, 4, 4),
        drop_rate: float = 0.0,
        proj_drop_rate: float = 0.0,
        drop_path_rate: float = 0.0,
        act_layer: type[nn.Module] = nn.GELU,
    ):
        super().__init__()
        self.num_classes = num_classes
        self.global_pool = global_pool
        self.drop_rate = drop_rate
        self.feature_info: list[dict[str, Any]] = []
        total = sum(depths)
        rates = [drop_path_rate * i / max(total - 1, 1) for i in range(total)]
        stages = []
        in_chs, reduction = in_chans, 1
        for i, (dim, depth) in enumerate(zip(embed_dims, depths)):
            patch_size, stride = (7, 4) if i == 0 else (3, 2)
            reduction *= stride
            start = sum(depths[:i])
            stages.append(
                VanStage(
                    in_chs, dim, depth, patch_size, stride, mlp_ratios[i], proj_drop_rate,
                    rates[start:start + depth], act_layer,
                )
            )
            self.feature_info.append(dict(num_chs=dim, reduction=reduction, module=f"stages.{i}"))
            in_chs = dim
        self.stages = nn.Sequential(*stages)
        self.num_features = self.head_hidden_size = embed_dims[-1]
        self.pool = SelectAdaptivePool2d(pool_type=global_pool, flatten=bool(global_pool))
        self.head_drop = nn.Dropout(drop_rate)
        self.head = nn.Linear(self.num_features, num_classes) if num_classes > 0 else nn.Identity()
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
        x: torch.Tensor,
        indices: int | list[int] | None = None,
        norm: bool = False,
        stop_early: bool = False,
        output_fmt: str = "NCHW",
        intermediates_only: bool = False,
    ) -> list[torch.Tensor] | tuple[torch.Tensor, list[torch.Tensor]]:
        """Stage outputs (each after its LayerNorm) at `indices`, timm's feature-extraction API."""
        if output_fmt != "NCHW":
            raise UsageError(f"VAN intermediates have no {output_fmt!r} format.", "Pass output_fmt='NCHW'.")
        take_indices, max_index = feature_take_indices(len(self.stages), indices)
        stages = self.stages[: max_index + 1] if stop_early else self.stages
        intermediates = []
        for index, stage in enumerate(stages):
            x = stage(x)
            if index in take_indices:
                intermediates.append(x)
        return intermediates if intermediates_only else (x, intermediates)

    def prune_intermediate_layers(
        self, indices: int | list[int] = 1, prune_norm: bool = False, prune_head: bool = True
    ) -> list[int]:
        """Drop the stages after the last requested intermediate (and the head)."""
        take_indices, max_index = feature_take_indices(len(self.stages), indices)
        self.stages = self.stages[: max_index + 1]
        if max_index < len(self.feature_info) - 1:
            self.num_features = self.head_hidden_size = self.feature_info[max_index]["num_chs"]
        if prune_head or max_index < len(self.feature_info) - 1:
            self.reset_classifier(0, "")
        return take_indices

    def forward_features(self, x: torch.Tensor) -> torch.Tensor:
        """[B, 3, H, W] -> last stage map [B, C, H/32, W/32] (after the stage LayerNorm)."""
        return self.stages(x)

    def forward_head(self, x: torch.Tensor, pre_logits: bool = False) -> torch.Tensor:
        """Global pool (average by default) -> dropout -> linear classifier (pre_logits stops before it)."""
        x = self.head_drop(self.pool(x))
        return x if pre_logits else self.head(x)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.forward_head(self.forward_features(x))


def _init_weights(module: nn.Module) -> None:
    """The official initialisation: He-normal convs (fan-out per group), truncated-normal linear."""
    if isinstance(module, nn.Linear):
        trunc_normal_(module.weight, std=0.02)
        if module.bias is not None:
            nn.init.zeros_(module.bias)
    elif isinstance(module, nn.Conv2d):
        fan_out = module.kernel_size[0] * module.kernel_size[1] * module.out_channels // module.groups
        nn.init.normal_(module.weight, 0.0, math.sqrt(2.0 / fan_out))
        if module.bias is not None:
            nn.init.zeros_(module.bias)


_OFFICIAL_RULES = [
    (r"^patch_embed(\d)\.", lambda m: f"stages.{int(m[1]) - 1}.patch_embed."),
    (r"^block(\d)\.(\d+)\.", lambda m: f"stages.{int(m[1]) - 1}.blocks.{m[2]}."),
    (r"^norm(\d)\.", lambda m: f"stages.{int(m[1]) - 1}.norm."),
    (r"\.attn\.spatial_gating_unit\.", ".attn.lka."),
    (r"\.layer_scale_1$", ".ls1.gamma"),
    (r"\.layer_scale_2$", ".ls2.gamma"),
    (r"\.mlp\.dwconv\.dwconv\.", ".mlp.dwconv."),
]

_HF_RULES = [
    (r"^van\.", ""),
    (r"^classifier\.", "head."),
    (r"^encoder\.stages\.(\d+)\.embeddings\.convolution\.", r"stages.\1.patch_embed.proj."),
    (r"^encoder\.stages\.(\d+)\.embeddings\.normalization\.", r"stages.\1.patch_embed.norm."),
    (r"^encoder\.stages\.(\d+)\.normalization\.", r"stages.\1.norm."),
    (r"^encoder\.stages\.(\d+)\.layers\.(\d+)\.", r"stages.\1.blocks.\2."),
    (r"\.pre_normomalization\.", ".norm1."),
    (r"\.post_normalization\.", ".norm2."),
    (r"\.attention\.pre_projection\.conv\.", ".attn.proj_1."),
    (r"\.attention\.attention_layer\.attention\.depth_wise\.", ".attn.lka.conv0."),
    (r"\.attention\.attention_layer\.attention\.depth_wise_dilated\.", ".attn.lka.conv_spatial."),
    (r"\.attention\.attention_layer\.attention\.point_wise\.", ".attn.lka.conv1."),
    (r"\.attention\.post_projection\.", ".attn.proj_2."),
    (r"\.attention_scaling\.weight$", ".ls1.gamma"),
    (r"\.mlp_scaling\.weight$", ".ls2.gamma"),
    (r"\.mlp\.in_dense\.", ".mlp.fc1."),
    (r"\.mlp\.depth_wise\.", ".mlp.dwconv."),
    (r"\.mlp\.out_dense\.", ".mlp.fc2."),
]

_HF_UNUSED = re.compile(r"^(van\.)?layernorm\.")
"""transformers' VanModel defines a final `layernorm` that its forward never applies: dropped."""


def _rename(key: str, rules: list) -> str:
    for pattern, replacement in rules:
        key = re.sub(pattern, replacement, key)
    return key


def checkpoint_filter_fn(state_dict: dict[str, torch.Tensor], model: nn.Module) -> dict[str, torch.Tensor]:
    """Map official-repo or Hugging Face transformers VAN keys to this module's key names.

    Accepts a bare state dict or one wrapped under "state_dict"/"model" (the official .pth.tar files).
    Official keys: `patch_embed1.proj`, `block1.0.attn.spatial_gating_unit.conv0`, `norm1`, `head`.
    Hugging Face keys (`VanModel`, or `VanForImageClassification` with the `van.` prefix):
    `encoder.stages.0.layers.0.attention.attention_layer.attention.depth_wise`, `classifier`; the unused
    final `layernorm` is dropped. Classifier weights are dropped when the model has no classifier.
    """
    for wrapper in ("state_dict", "model"):
        if isinstance(state_dict.get(wrapper), dict):
            state_dict = state_dict[wrapper]
    if any(k.startswith(("encoder.stages.", "van.encoder.stages.")) for k in state_dict):
        rules = _HF_RULES
    elif any(k.startswith("patch_embed1.") for k in state_dict):
        rules = _OFFICIAL_RULES
    else:
        rules = []
    has_head = getattr(model, "num_classes", 0) > 0
    out = {}
    for key, value in state_dict.items():
        if rules is _HF_RULES and _HF_UNUSED.match(key):
            continue
        key = _rename(key, rules)
        if key.startswith("head.") and not has_head:
            continue
        out[key] = value
    return out


def _cfg(**kwargs: Any) -> dict[str, Any]:
    """Defaults as the official repo resolved them (timm 0.4.12 vision_transformer `_cfg`)."""
    return {
        "url": "",
        "num_classes": 1000,
        "input_size": (3, 224, 224),
        "pool_size": (7, 7),
        "crop_pct": 0.9,
        "interpolation": "bicubic",
        "mean": (0.5, 0.5, 0.5),
        "std": (0.5, 0.5, 0.5),
        "first_conv": "stages.0.patch_embed.proj",
        "classifier": "head",
        "license": "apache-2.0",
        "paper_ids": "arXiv:2202.09741",
        "paper_name": "Visual Attention Network",
        "origin_url": "https://github.com/Visual-Attention-Network/VAN-Classification",
        **kwargs,
    }


default_cfgs = generate_default_cfgs({name: _cfg() for name in ("van_b0", "van_b1", "van_b2", "van_b3")})


def _create_van(variant: str, pretrained: bool = False, **kwargs: Any) -> VAN:
    return build_model_with_cfg(
        VAN,
        variant,
        pretrained,
        pretrained_filter_fn=checkpoint_filter_fn,
        feature_cfg=dict(out_indices=(0, 1, 2, 3), feature_cls="getter"),
        **kwargs,
    )


_SMALL = dict(embed_dims=(32, 64, 160, 256), mlp_ratios=(8, 8, 4, 4))
_WIDE = dict(embed_dims=(64, 128, 320, 512), mlp_ratios=(8, 8, 4, 4))


@register_model
def van_b0(pretrained: bool = False, **kwargs: Any) -> VAN:
    return _create_van("van_b0", pretrained, **dict(_SMALL, depths=(3, 3, 5, 2), **kwargs))


@register_model
def van_b1(pretrained: bool = False, **kwargs: Any) -> VAN:
    return _create_van("van_b1", pretrained, **dict(_WIDE, depths=(2, 2, 4, 2), **kwargs))


@register_model
def van_b2(pretrained: bool = False, **kwargs: Any) -> VAN:
    return _create_van("van_b2", pretrained, **dict(_WIDE, depths=(3, 3, 12, 3), **kwargs))


@register_model
def van_b3(pretrained: bool = False, **kwargs: Any) -> VAN:
    return _create_van("van_b3", pretrained, **dict(_WIDE, depths=(3, 5, 27, 3), **kwargs))


_FACTS = dict(
    family="van",
    source="native",
    mean=(0.5, 0.5, 0.5),
    std=(0.5, 0.5, 0.5),
    crop_pct=0.9,
    stride=32,
    fp32_sensitive=("LayerNorm after each stage",),
    pretrained_tag=None,
    test_resolution=96,
    notes=(
        "Native (not in timm). LKA = DW5x5 -> DW7x7 dilation 3 -> 1x1, gating its input. "
        "No hub weights: pass an official or Hugging Face transformers checkpoint with --checkpoint."
    ),
)

SPECS = [
    ModelSpec(name="van_b0", timm_name="van_b0", **_FACTS),
    ModelSpec(name="van_b1", timm_name="van_b1", **_FACTS),
    ModelSpec(name="van_b2", timm_name="van_b2", **_FACTS),
    ModelSpec(name="van_b3", timm_name="van_b3", **_FACTS),
]
