"""LargeKernelAttention as a torch custom op: one node in `torch.export` / `torch.onnx.export`."""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.ops.large_kernel_attention.reference import large_kernel_attention


@torch.library.custom_op("edgeattn::large_kernel_attention", mutates_args=())
def large_kernel_attention_op(
    x: Tensor, w0: Tensor, b0: Tensor, w1: Tensor, b1: Tensor, dilation: int
) -> Tensor:
    """x [B, C, H, W], depthwise weights/biases -> [B, C, H, W] (see reference.py)."""
    return large_kernel_attention(x, w0, b0, w1, b1, dilation)


@large_kernel_attention_op.register_fake
def _fake(x, w0, b0, w1, b1, dilation):
    return torch.empty_like(x)
