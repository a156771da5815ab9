"""GhostNetV2's Ghost module with DFC attention (timm `GhostModuleV2`) as a module calling DFCAttention."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import Tensor, nn

from edgeattn.errors import UsageError
from edgeattn.ops.dfc_attention.torch_op import dfc_attention_op


def fold_conv_bn(conv: nn.Conv2d, bn: nn.Module) -> tuple[Tensor, Tensor]:
    """Weight and bias of `conv` followed by `bn` (eval statistics), or by Identity."""
    weight = conv.weight.detach()
    bias = conv.bias.detach() if conv.bias is not None else weight.new_zeros(weight.shape[0])
    if isinstance(bn, nn.Identity):
        return weight.clone(), bias.clone()
    if not isinstance(bn, nn.BatchNorm2d):
        raise UsageError(
            f"Cannot fold {type(bn).__name__} into a depthwise DFC convolution.",
            "Expected BatchNorm2d or Identity after each DFC convolution (timm GhostModuleV2 layout).",
        )
    std = torch.sqrt(bn.running_var + bn.eps)
    factor = bn.weight.detach() / std
    folded_w = weight * factor.reshape(-1, 1, 1, 1)
    folded_b = (bias - bn.running_mean) * factor + bn.bias.detach()
    return folded_w, folded_b


class EdgeGhostModuleV2(nn.Module):
    """GhostNetV2 Ghost module with DFC attention calling `edgeattn::dfc_attention`.

    The 2x2 average pool and the dense 1x1 conv+BN stay outside the op; the two depthwise convs
    have their BatchNorms folded into buffers `w_h, b_h, w_v, b_v` (eval statistics).
    """

    def __init__(self, src) -> None:
        super().__init__()
        self.out_chs = src.out_chs
        self.primary_conv, self.cheap_operation = src.primary_conv, src.cheap_operation
        layers = list(src.short_conv)
        if len(layers) != 6 or not all(isinstance(layers[i], nn.Conv2d) for i in (0, 2, 4)):
            raise UsageError(
                "GhostModuleV2.short_conv does not have the conv/BN x3 layout of timm 1.0.",
                "Rewrite an unmodified timm GhostNetV2 model (before any BN fusion of short_conv).",
            )
        self.gate_proj = nn.Sequential(layers[0], layers[1])
        w_h, b_h = fold_conv_bn(layers[2], layers[3])
        w_v, b_v = fold_conv_bn(layers[4], layers[5])
        for name, value in (("w_h", w_h), ("b_h", b_h), ("w_v", w_v), ("b_v", b_v)):
            self.register_buffer(name, value)

    def forward(self, x: Tensor) -> Tensor:
        gate = self.gate_proj(F.avg_pool2d(x, kernel_size=2, stride=2))
        x1 = self.primary_conv(x)
        x2 = self.cheap_operation(x1)
        features = torch.cat([x1, x2], dim=1)[:, : self.out_chs]
        return dfc_attention_op(gate, self.w_h, self.b_h, self.w_v, self.b_v, features)
