"""Small attention modules (odd sizes, seed 42) with heads of deliberately different ranges."""

from __future__ import annotations

import torch
from timm.models.efficientvit_mit import LiteMLA
from timm.models.efficientvit_msra import CascadedGroupAttention
from timm.models.lowformer import ConvAttention
from timm.models.shvit import SHSA
from torch import nn


def _spread_batchnorms(module: nn.Module, seed: int = 42) -> nn.Module:
    """Random BN affine/statistics and per-output-channel weight gains so heads get unequal ranges."""
    generator = torch.Generator().manual_seed(seed)
    with torch.no_grad():
        for child in module.modules():
            if isinstance(child, nn.BatchNorm2d):
                child.weight.copy_(torch.rand(child.weight.shape, generator=generator) * 3 + 0.1)
                child.bias.copy_(torch.randn(child.bias.shape, generator=generator) * 0.2)
                child.running_mean.copy_(torch.randn(child.running_mean.shape, generator=generator) * 0.1)
                child.running_var.copy_(torch.rand(child.running_var.shape, generator=generator) + 0.5)
            elif isinstance(child, nn.Conv2d) and child.groups == 1:
                gains = torch.exp(torch.randn(child.out_channels, generator=generator))
                child.weight.mul_(gains.reshape(-1, 1, 1, 1))
    module.eval()
    return module


def make_site_module(kind: str) -> tuple[nn.Module, tuple[int, ...]]:
    """(edgeattn attention module, input shape) of one attention family (the timm module, rewritten)."""
    torch.manual_seed(42)
    if kind == "shsa":
        module, shape = SHSA(dim=32, qk_dim=16, pdim=8), (2, 32, 13, 11)
    elif kind == "lowformer":
        module, shape = ConvAttention(64, att_stride=2, att_kernel=3), (2, 64, 13, 11)
    elif kind == "lowformer_fused":
        module, shape = ConvAttention(64, att_stride=2, att_kernel=3, fuse_out_proj=True), (2, 64, 13, 11)
    elif kind == "litemla":
        module, shape = LiteMLA(32, 32, dim=8, norm_layer=(None, nn.BatchNorm2d)), (2, 32, 13, 11)
    elif kind == "cascaded":
        module, shape = CascadedGroupAttention(32, key_dim=4, num_heads=4, attn_ratio=2, resolution=7), (2, 32, 7, 7)
    else:
        raise ValueError(kind)
    from edgeattn.ops.rewrite import rewrite_model

    return rewrite_model(_spread_batchnorms(module))[0], shape


SITE_KINDS = ("shsa", "lowformer", "lowformer_fused", "litemla", "cascaded")


class TinyNet(nn.Module):
    """A 13x13-input network (7x7 = 49 tokens after the stem) with every precision-relevant part: convs,
    depthwise conv, residual adds, ReLU linear attention (LiteMLA), GroupNorm(1), single-head softmax
    attention (SHSA), LayerNorm."""

    def __init__(self) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, 32, 3, 2, 1), nn.BatchNorm2d(32), nn.ReLU())
        self.linear_attention = LiteMLA(32, 32, dim=8, norm_layer=(None, nn.BatchNorm2d))
        self.norm = nn.GroupNorm(1, 32)
        self.softmax_attention = SHSA(dim=32, qk_dim=16, pdim=8)
        self.depthwise = nn.Conv2d(32, 32, 3, padding=1, groups=32)
        self.head_norm = nn.LayerNorm(32)
        self.head = nn.Linear(32, 10)

    def forward(self, x):
        x = self.stem(x)
        x = x + self.linear_attention(x)
        x = x + self.softmax_attention(self.norm(x))
        x = torch.relu(self.depthwise(x)).mean(dim=(2, 3))
        return self.head(self.head_norm(x))


def tiny_net() -> nn.Module:
    torch.manual_seed(42)
    return _spread_batchnorms(TinyNet())
