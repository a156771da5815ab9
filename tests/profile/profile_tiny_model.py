"""A tiny stem/stages/head model with one attention block (13x11 input), for the profile tests."""

from __future__ import annotations

import torch
from torch import nn

SEED = 42
HEIGHT, WIDTH = 13, 11


class Attention(nn.Module):
    """Single-head softmax attention over the H*W tokens of a feature map."""

    def __init__(self, dim: int) -> None:
        super().__init__()
        self.qkv = nn.Conv2d(dim, 3 * dim, 1)
        self.proj = nn.Conv2d(dim, dim, 1)
        self.scale = dim**-0.5

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b, c, h, w = x.shape
        q, k, v = self.qkv(x).flatten(2).chunk(3, dim=1)
        attn = (q.transpose(1, 2) @ k * self.scale).softmax(dim=-1)
        out = (v @ attn.transpose(1, 2)).reshape(b, c, h, w)
        return x + self.proj(out)


class Block(nn.Module):
    def __init__(self, dim: int, attention: bool) -> None:
        super().__init__()
        self.conv = nn.Conv2d(dim, dim, 3, padding=1)
        self.norm = nn.BatchNorm2d(dim)
        self.act = nn.ReLU()
        self.mixer = Attention(dim) if attention else nn.Identity()

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.mixer(self.act(self.norm(self.conv(x))))


class TinyNet(nn.Module):
    """stem -> stages.0 (conv) -> stages.1 (conv + attention) -> head."""

    def __init__(self, dim: int = 48, classes: int = 10) -> None:
        super().__init__()
        self.stem = nn.Sequential(nn.Conv2d(3, dim, 3, padding=1), nn.ReLU())
        self.stages = nn.Sequential(Block(dim, attention=False), Block(dim, attention=True))
        self.head = nn.Linear(dim, classes)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.head(self.stages(self.stem(x)).mean(dim=(2, 3)))


def make_tiny_net() -> TinyNet:
    torch.manual_seed(SEED)
    return TinyNet().eval()
