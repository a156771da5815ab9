"""VAN's large kernel attention (`edgeattn.backbones.van.LKA`) as a module calling LargeKernelAttention."""

from __future__ import annotations

import torch
from torch import nn

from edgeattn.ops.large_kernel_attention.torch_op import large_kernel_attention_op


class EdgeLKA(nn.Module):
    """LKA with its depthwise chain as one `edgeattn::large_kernel_attention` call.

    Keeps the original conv modules (so the state dict keys do not change); conv1 and the gating
    multiply stay standard ops for TensorRT to fuse.
    """

    def __init__(self, src) -> None:
        super().__init__()
        self.conv0 = src.conv0
        self.conv_spatial = src.conv_spatial
        self.conv1 = src.conv1
        self.dilation = int(src.conv_spatial.dilation[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dw0, dw1 = self.conv0, self.conv_spatial
        attn = large_kernel_attention_op(x, dw0.weight, dw0.bias, dw1.weight, dw1.bias, self.dilation)
        return x * self.conv1(attn)

