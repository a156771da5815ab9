"""Swap VAN's LKA modules for ones that call the LargeKernelAttention op (same weights, same keys)."""

from __future__ import annotations

import torch
from torch import nn

from edgeattn.backbones.van import LKA
from edgeattn.ops.large_kernel_attention.torch_op import large_kernel_attention_op


class EdgeLKA(nn.Module):
    """LKA with its depthwise chain as one `edgeattn::large_kernel_attention` call.

    Keeps the original conv modules (so the state dict keys do not change); conv1 and the gating
    multiply stay standard ops for TensorRT to fuse.
    """

    def __init__(self, src: LKA):
        super().__init__()
        self.conv0 = src.conv0
        self.conv_spatial = src.conv_spatial
        self.conv1 = src.conv1
        self.dilation = int(src.conv_spatial.dilation[0])

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        dw0, dw1 = self.conv0, self.conv_spatial
        attn = large_kernel_attention_op(x, dw0.weight, dw0.bias, dw1.weight, dw1.bias, self.dilation)
        return x * self.conv1(attn)


def rewrite_van(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """Replace every VAN `LKA` in `model` in place (eval mode); returns the model and one line per swap."""
    model.eval()
    swapped = []
    for name, module in list(model.named_modules()):
        if isinstance(module, LKA):
            parent_name, _, child = name.rpartition(".")
            parent = model.get_submodule(parent_name) if parent_name else model
            setattr(parent, child, EdgeLKA(module).eval())
            swapped.append(f"{name}: LKA -> LargeKernelAttention")
    return model, swapped
