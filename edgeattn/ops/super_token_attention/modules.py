"""STViT's super token attention (`edgeattn.backbones.stvit.StokenAttention`) as a module calling the op,
with its head-wise weight edits and the calibration capture of one op call."""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.ops.attention_module import HeadwiseAttention, scale_in, scale_out
from edgeattn.ops.softmax_attention import attention_probabilities, softmax_attention
from edgeattn.ops.super_token_attention.layout import StokenGrid
from edgeattn.ops.super_token_attention.reference import check_inputs, sample_super_tokens, split_heads
from edgeattn.ops.super_token_attention.torch_op import super_token_attention_op


class EdgeStokenAttention(HeadwiseAttention):
    """One `edgeattn::super_token_attention` call: sampling, the attention over the super tokens with its
    qkv / proj 1x1 convs (flattened to [3C, C] / [C, C]; per head [q, k, v] rows) and the upsampling.

    The projections act inside the op, but they are ordinary weights: Q/K and V/O rescaling edit the qkv
    rows and proj columns exactly as for attention with the convs outside."""

    def __init__(self, src) -> None:
        super().__init__()
        self.num_heads, self.stoken_size, self.n_iter = src.num_heads, tuple(src.stoken_size), src.n_iter
        self.scale, self.assoc_scale = src.scale, src.assoc_scale
        self.qkv, self.proj = src.qkv, src.proj
        self.heads = src.num_heads
        self.qk_dim = self.v_dim = src.qkv.in_channels // src.num_heads

    def forward(self, x: Tensor) -> Tensor:
        return super_token_attention_op(
            x, self.qkv.weight.flatten(1), self.qkv.bias, self.proj.weight.flatten(1), self.proj.bias,
            *self.stoken_size, self.n_iter, self.num_heads, self.assoc_scale, self.scale,
        )

    def _scale_qkv(self, fq: Tensor, fk: Tensor, fv: Tensor) -> None:
        scale_out(self.qkv, torch.cat([fq, fk, fv], dim=1).reshape(-1))

    def scale_qk(self, a: Tensor) -> None:
        self._scale_qkv(a, 1 / a, torch.ones_like(a))

    def scale_v(self, b: Tensor) -> None:
        self._scale_qkv(torch.ones_like(b), torch.ones_like(b), b)
        scale_in(self.proj, 0, 1 / b.reshape(-1))


def capture(x: Tensor, qkv_weight: Tensor, qkv_bias: Tensor, proj_weight: Tensor, proj_bias: Tensor,
            stoken_height: int, stoken_width: int, n_iter: int, num_heads: int, assoc_scale: float,
            attn_scale: float) -> dict[str, Tensor]:
    """Head-major statistics of the attention over the M super tokens of one call: q, k, v, o
    [B, H, M, D] and p [B, H, M, M] (the part of the op that runs INT8)."""
    check_inputs(x, qkv_weight, qkv_bias, proj_weight, proj_bias, stoken_height, stoken_width, n_iter,
                 num_heads)
    grid = StokenGrid(x.shape[2], x.shape[3], stoken_height, stoken_width)
    stokens, _ = sample_super_tokens(x, grid, n_iter, assoc_scale)
    q, k, v = split_heads(stokens, qkv_weight, qkv_bias, num_heads)
    return {"q": q, "k": k, "v": v, "p": attention_probabilities(q, k, attn_scale),
            "o": softmax_attention(q, k, v, attn_scale)}
