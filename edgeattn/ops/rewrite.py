"""Swap the attention modules of timm backbones for modules that call edgeattn ops (same weights).

Families: SHViT (SHSA -> SingleHeadAttention), LowFormer (ConvAttention -> MultiHeadAttention),
EfficientViT-B/L (LiteMLA -> ReLULinearAttention), EfficientViT-M (CascadedGroupAttention ->
MultiHeadAttention with relative position bias, one call per cascaded head) and GhostNetV2
(GhostModuleV2 -> DFCAttention). Models without such modules (e.g. MobileViTv2) come back unchanged.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F
from timm.models.efficientvit_mit import LiteMLA
from timm.models.efficientvit_msra import CascadedGroupAttention
from timm.models.ghostnet import GhostModuleV2
from timm.models.lowformer import ConvAttention
from timm.models.shvit import SHSA
from torch import Tensor, nn

from edgeattn.backbones.van import LKA
from edgeattn.errors import UsageError
from edgeattn.ops.dfc_attention.torch_op import dfc_attention_op
from edgeattn.ops.large_kernel_attention.rewrite import EdgeLKA
from edgeattn.ops.multi_head_attention.torch_op import multi_head_attention_op
from edgeattn.ops.relu_linear_attention.torch_op import relu_linear_attention_op
from edgeattn.ops.single_head_attention.torch_op import single_head_attention_op


class EdgeSHSA(nn.Module):
    """SHViT single-head self-attention calling `edgeattn::single_head_attention`."""

    def __init__(self, src: SHSA) -> None:
        super().__init__()
        self.scale, self.qk_dim, self.dim, self.pdim = src.scale, src.qk_dim, src.dim, src.pdim
        self.pre_norm, self.qkv, self.proj = src.pre_norm, src.qkv, src.proj

    def forward(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        x1, x2 = torch.split(x, [self.pdim, self.dim - self.pdim], dim=1)
        qkv = self.qkv(self.pre_norm(x1))
        q, k, v = torch.split(qkv, [self.qk_dim, self.qk_dim, self.pdim], dim=1)
        x1 = single_head_attention_op(q.flatten(2), k.flatten(2), v.flatten(2), self.scale)
        return self.proj(torch.cat([x1.reshape(batch, self.pdim, height, width), x2], dim=1))


class EdgeConvAttention(nn.Module):
    """LowFormer downsampled attention calling `edgeattn::multi_head_attention`."""

    def __init__(self, src: ConvAttention) -> None:
        super().__init__()
        self.num_heads, self.head_dim, self.num_keys = src.num_heads, src.head_dim, src.num_keys
        self.scale, self.o_proj_inpdim = src.scale, src.o_proj_inpdim
        self.conv_proj, self.pwise = src.conv_proj, src.pwise
        self.o_proj, self.upsampling = src.o_proj, src.upsampling

    def forward(self, x: Tensor) -> Tensor:
        height, width = x.shape[-2:]
        xout = self.pwise(self.conv_proj(x))
        batch, _, h, w = xout.shape
        qkv = xout.reshape(batch, self.num_heads, self.num_keys * self.head_dim, h * w)
        q, k, v = qkv.permute(0, 1, 3, 2).chunk(3, dim=3)
        values = multi_head_attention_op(q, k, v, self.scale)
        o = self.o_proj(values.permute(0, 1, 3, 2).reshape(batch, self.o_proj_inpdim, h, w))
        return self.upsampling(o)[..., :height, :width]


class EdgeLiteMLA(nn.Module):
    """EfficientViT-B/L multi-scale linear attention calling `edgeattn::relu_linear_attention`."""

    def __init__(self, src: LiteMLA) -> None:
        super().__init__()
        self.dim, self.eps = src.dim, src.eps
        self.qkv, self.aggreg, self.proj = src.qkv, src.aggreg, src.proj

    def forward(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        qkv = self.qkv(x)
        multi_scale = torch.cat([qkv] + [agg(qkv) for agg in self.aggreg], dim=1)
        multi_scale = multi_scale.reshape(batch, -1, 3 * self.dim, height * width).transpose(-1, -2)
        q, k, v = multi_scale.chunk(3, dim=-1)
        out = relu_linear_attention_op(q, k, v, self.eps)
        return self.proj(out.transpose(-1, -2).reshape(batch, -1, height, width))


class EdgeCascadedGroupAttention(nn.Module):
    """EfficientViT-M cascaded group attention: one `edgeattn::multi_head_attention` call per head
    (heads are sequential: each head's input adds the previous head's output)."""

    def __init__(self, src: CascadedGroupAttention) -> None:
        super().__init__()
        self.num_heads, self.scale = src.num_heads, src.scale
        self.key_dim, self.val_dim, self.resolution = src.key_dim, src.val_dim, src.resolution
        self.qkvs, self.dws, self.proj = src.qkvs, src.dws, src.proj
        self.attention_biases = src.attention_biases
        self.register_buffer("attention_bias_idxs", src.attention_bias_idxs, persistent=False)

    def forward(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        feats_in = x.chunk(len(self.qkvs), dim=1)
        feats_out = []
        feat = feats_in[0]
        for head, (qkv, dws) in enumerate(zip(self.qkvs, self.dws, strict=True)):
            if head > 0:
                feat = feat + feats_in[head]
            q, k, v = qkv(feat).view(batch, -1, height, width).split(
                [self.key_dim, self.key_dim, self.val_dim], dim=1
            )
            q = dws(q)
            tokens = [t.flatten(2).transpose(-2, -1).unsqueeze(1) for t in (q, k, v)]
            # per-head gather from the parameter: constant-folds to one small initializer per head
            attn_bias = self.attention_biases[head][self.attention_bias_idxs].unsqueeze(0)
            out = multi_head_attention_op(*tokens, self.scale, attn_bias)
            feat = out.squeeze(1).transpose(-2, -1).reshape(batch, self.val_dim, height, width)
            feats_out.append(feat)
        return self.proj(torch.cat(feats_out, dim=1))


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

    def __init__(self, src: GhostModuleV2) -> None:
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


_SWAPS: tuple[tuple[type[nn.Module], type[nn.Module], str], ...] = (
    (SHSA, EdgeSHSA, "SingleHeadAttention"),
    (ConvAttention, EdgeConvAttention, "MultiHeadAttention"),
    (LiteMLA, EdgeLiteMLA, "ReLULinearAttention"),
    (CascadedGroupAttention, EdgeCascadedGroupAttention, "MultiHeadAttention"),
    (GhostModuleV2, EdgeGhostModuleV2, "DFCAttention"),
    (LKA, EdgeLKA, "LargeKernelAttention"),
)


def _replacement(module: nn.Module) -> tuple[type[nn.Module], str] | None:
    for source, target, op_name in _SWAPS:
        if type(module) is source:
            if isinstance(module, LiteMLA) and not isinstance(module.kernel_func, nn.ReLU):
                raise UsageError(
                    f"LiteMLA with kernel {type(module.kernel_func).__name__} has no edgeattn op.",
                    "Only ReLU linear attention (all timm EfficientViT-B/L models) is supported.",
                )
            return target, op_name
    return None


def rewrite_model(model: nn.Module) -> tuple[nn.Module, list[str]]:
    """Swap attention modules in place for edgeattn-op modules that share their weights.

    The model is put in eval mode first (GhostNetV2's DFC BatchNorms are folded with running
    statistics). Returns the model and one line per swap: "<module path>: <Old> -> <Op>".
    """
    model.eval()
    swaps = []
    for name, module in list(model.named_modules()):
        found = _replacement(module)
        if found is None:
            continue
        target, op_name = found
        parent_name, _, child = name.rpartition(".")
        parent = model.get_submodule(parent_name) if parent_name else model
        replacement = target(module).eval()
        if isinstance(parent, (nn.Sequential, nn.ModuleList)) and child.isdigit():
            parent[int(child)] = replacement
        else:
            setattr(parent, child, replacement)
        swaps.append(f"{name}: {type(module).__name__} -> {op_name}")
    return model, swaps
