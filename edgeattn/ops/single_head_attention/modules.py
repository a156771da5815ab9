"""SHViT's single-head self-attention (timm `SHSA`) as a module calling the SingleHeadAttention op."""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.ops.attention_module import HeadwiseAttention, scale_in, scale_out
from edgeattn.ops.single_head_attention.reference import attention_probabilities, single_head_attention
from edgeattn.ops.single_head_attention.torch_op import single_head_attention_op


class EdgeSHSA(HeadwiseAttention):
    """timm SHSA with its attention core as one `edgeattn::single_head_attention` call (same weights).

    qkv = Conv2dNorm(pdim -> 2 qk_dim + pdim) on the first pdim channels; proj = ReLU, Conv2dNorm.
    """

    def __init__(self, src) -> None:
        super().__init__()
        self.scale, self.qk_dim, self.dim, self.pdim = src.scale, src.qk_dim, src.dim, src.pdim
        self.pre_norm, self.qkv, self.proj = src.pre_norm, src.qkv, src.proj
        self.heads, self.v_dim = 1, src.pdim

    def forward(self, x: Tensor) -> Tensor:
        batch, _, height, width = x.shape
        x1, x2 = torch.split(x, [self.pdim, self.dim - self.pdim], dim=1)
        qkv = self.qkv(self.pre_norm(x1))
        q, k, v = torch.split(qkv, [self.qk_dim, self.qk_dim, self.pdim], dim=1)
        x1 = single_head_attention_op(q.flatten(2), k.flatten(2), v.flatten(2), self.scale)
        return self.proj(torch.cat([x1.reshape(batch, self.pdim, height, width), x2], dim=1))

    def _scale_qkv(self, fq: Tensor, fk: Tensor, fv: Tensor) -> None:
        scale_out(self.qkv, torch.cat([fq.reshape(-1), fk.reshape(-1), fv.reshape(-1)]))

    def scale_qk(self, a: Tensor) -> None:
        self._scale_qkv(a, 1 / a, torch.ones(self.v_dim))

    def scale_v(self, b: Tensor) -> None:
        ones = torch.ones(self.qk_dim)
        self._scale_qkv(ones, ones, b)
        scale_in(self.proj[1], 0, 1 / b.reshape(-1))


def capture(q: Tensor, k: Tensor, v: Tensor, scale: float) -> dict[str, Tensor]:
    """Head-major statistics of one call: channel-first [B, D, N] tokens become one head [B, 1, N, D]."""
    out = single_head_attention(q, k, v, scale)
    heads = {name: t.transpose(1, 2)[:, None] for name, t in (("q", q), ("k", k), ("v", v), ("o", out))}
    return {**heads, "p": attention_probabilities(q, k, scale)[:, None]}
