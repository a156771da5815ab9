"""fp32 reference for DFCAttention (GhostNetV2 decoupled fully connected attention gate)."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor


def dfc_attention(
    gate: Tensor, w_h: Tensor, b_h: Tensor, w_v: Tensor, b_v: Tensor, features: Tensor
) -> Tensor:
    """Gate `features` with the DFC attention map computed from the pooled `gate`.

    gate: [B, C, h, w] (GhostNetV2: 2x2 avg-pool then 1x1 conv+BN, both outside this op);
    w_h: [C, 1, 1, K] depthwise horizontal weight (BN folded), b_h: [C];
    w_v: [C, 1, K, 1] depthwise vertical weight (BN folded), b_v: [C];
    features: [B, C, H, W] -> features * nearest_resize(sigmoid(dw_v(dw_h(gate))), (H, W)).
    Convolutions are zero-padded 'same'. Nearest resize maps output index i to input index
    floor(i * h / H) (PyTorch `mode='nearest'`, ONNX Resize asymmetric + floor), exact for odd sizes.
    Computed in fp32, cast back to the features' dtype.
    """
    dtype = features.dtype
    channels = gate.shape[1]
    kh, kw = w_v.shape[-2], w_h.shape[-1]
    x = F.conv2d(gate.float(), w_h.float(), b_h.float(), padding=(0, kw // 2), groups=channels)
    x = F.conv2d(x, w_v.float(), b_v.float(), padding=(kh // 2, 0), groups=channels)
    attn = torch.sigmoid(x)
    attn = F.interpolate(attn, size=(features.shape[-2], features.shape[-1]), mode="nearest")
    return (features.float() * attn).to(dtype)
