"""EfficientViT-B/L multi-scale linear attention (timm `LiteMLA`) as a module calling ReLULinearAttention."""

from __future__ import annotations

import torch
from torch import Tensor, nn

from edgeattn.errors import UsageError
from edgeattn.ops.attention_module import HeadwiseAttention, scale_in, scale_out
from edgeattn.ops.relu_linear_attention.reference import relu_linear_attention
from edgeattn.ops.relu_linear_attention.torch_op import relu_linear_attention_op


class EdgeLiteMLA(HeadwiseAttention):
    """LiteMLA calling `edgeattn::relu_linear_attention`: qkv 1x1 -> [qkv, aggreg(qkv)...]; each 3*dim
    channel group is one head.

    The multi-scale aggregation (depthwise kxk, then a 1x1 grouped per q/k/v part of each head) is linear
    per group, so aggregated heads get their own factors: the grouped 1x1 undoes the source head's factors
    on its input columns and applies the aggregated head's factors on its output rows."""

    kind = "linear"

    def __init__(self, src) -> None:
        super().__init__()
        if not isinstance(src.kernel_func, nn.ReLU):
            raise UsageError(f"LiteMLA with kernel {type(src.kernel_func).__name__} has no edgeattn op.",
                             "Only ReLU linear attention (all timm EfficientViT-B/L models) is supported.")
        self.dim, self.eps = src.dim, src.eps
        self.qkv, self.aggreg, self.proj = src.qkv, src.aggreg, src.proj
        self.base_heads = src.qkv.conv.out_channels // (3 * src.dim)
        self.heads, self.qk_dim, self.v_dim = self.base_heads * (1 + len(src.aggreg)), src.dim, src.dim

    def forward(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        qkv = self.qkv(x)
        multi_scale = torch.cat([qkv] + [agg(qkv) for agg in self.aggreg], dim=1)
        multi_scale = multi_scale.reshape(batch, -1, 3 * self.dim, height * width).transpose(-1, -2)
        q, k, v = multi_scale.chunk(3, dim=-1)
        out = relu_linear_attention_op(q, k, v, self.eps)
        return self.proj(out.transpose(-1, -2).reshape(batch, -1, height, width))

    def _apply(self, fq: Tensor, fk: Tensor, fv: Tensor) -> None:
        """Per-channel factors [H_total, dim] for q, k, v of every head (base heads first)."""
        per_head = torch.cat([fq, fk, fv], dim=1)  # [H_total, 3*dim], channel order of the reshape
        n = self.base_heads * 3 * self.dim
        base = per_head[: self.base_heads].reshape(-1)
        scale_out(self.qkv, base)
        for index, agg in enumerate(self.aggreg):
            dw, grouped = agg[0], agg[1]
            if dw.bias is not None:
                dw.bias.mul_(base)
            out_f = per_head[(index + 1) * self.base_heads : (index + 2) * self.base_heads].reshape(-1)
            group = grouped.weight.shape[1]
            in_f = base.reshape(-1, group)  # input channel factors of each group's columns
            out_rows = out_f.reshape(-1, group)
            grouped.weight.mul_((out_rows[:, :, None] / in_f[:, None, :]).reshape(n, group, 1, 1))
            if grouped.bias is not None:
                grouped.bias.mul_(out_f)

    def scale_qk(self, a: Tensor) -> None:
        self._apply(a, 1 / a, torch.ones_like(a))

    def scale_heads(self, sq: Tensor, sk: Tensor) -> None:
        ones = torch.ones(self.heads, self.qk_dim)
        self._apply(ones * sq[:, None], ones * sk[:, None], torch.ones(self.heads, self.v_dim))

    def scale_v(self, b: Tensor) -> None:
        ones = torch.ones(self.heads, self.qk_dim)
        self._apply(ones, ones, b)
        scale_in(self.proj, 0, 1 / b.reshape(-1))


def capture(q: Tensor, k: Tensor, v: Tensor, eps: float) -> dict[str, Tensor]:
    """Head-major statistics of one call: the ReLU'd q and k the op multiplies, v and the output."""
    return {"q": torch.relu(q), "k": torch.relu(k), "v": v, "o": relu_linear_attention(q, k, v, eps)}
