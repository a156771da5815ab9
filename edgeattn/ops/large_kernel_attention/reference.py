"""fp32 reference for LargeKernelAttention: VAN's fused depthwise chain DW5x5 -> DW7x7 dilation 3."""

from __future__ import annotations

import torch.nn.functional as F
from torch import Tensor

from edgeattn.errors import UsageError


def large_kernel_attention(
    x: Tensor, w0: Tensor, b0: Tensor, w1: Tensor, b1: Tensor, dilation: int = 3
) -> Tensor:
    """The depthwise part of VAN's large kernel attention (the 1x1 and the gating stay outside).

    x: [B, C, H, W]; w0: [C, 1, K0, K0] depthwise weight (VAN: K0 = 5), b0: [C];
    w1: [C, 1, K1, K1] depthwise weight applied with `dilation` (VAN: K1 = 7, dilation 3), b1: [C]
    -> [B, C, H, W] = dw(w1, dilation)(dw(w0)(x)).
    Both convolutions are zero-padded 'same' (padding K0 // 2, then dilation * (K1 // 2)); the second
    pads the first one's output with zeros, it does not extend the first conv past the border.
    Computed in fp32, cast back to x's dtype.
    """
    channels = x.shape[1]
    for name, weight in (("w0", w0), ("w1", w1)):
        k = weight.shape[-1]
        if weight.shape != (channels, 1, k, k) or k % 2 == 0:
            raise UsageError(
                f"LargeKernelAttention {name} has shape {tuple(weight.shape)} for {channels} channels.",
                f"Pass a depthwise weight [C, 1, K, K] with odd K, C = {channels}.",
            )
    k0, k1 = w0.shape[-1], w1.shape[-1]
    out = F.conv2d(x.float(), w0.float(), b0.float(), padding=k0 // 2, groups=channels)
    out = F.conv2d(
        out, w1.float(), b1.float(), padding=dilation * (k1 // 2), dilation=dilation, groups=channels
    )
    return out.to(x.dtype)
