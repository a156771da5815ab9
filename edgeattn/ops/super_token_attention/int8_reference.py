"""INT8 reference for SuperTokenAttention: the fp32 math with the super-token attention in INT8.

Only the attention over the M super tokens is quantized, as the Triton INT8 path does it: q and k
(and v when v_scale/p_scale are given) are rounded per head inside the op with
clamp(floor(x / scale[h] + 0.5), -127, 127); Q.K^T then runs int8 x int8 -> int32 and P.V as in
the shared INT8 softmax attention (`edgeattn.ops.softmax_attention`). Sampling, the association
softmax, the fold's division and the upsampling stay fp32 (see README.md, "INT8").
"""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.ops.fake_quant import INT8_MAX
from edgeattn.ops.softmax_attention import softmax_attention_int8
from edgeattn.ops.super_token_attention.layout import StokenGrid
from edgeattn.ops.super_token_attention.reference import (
    check_inputs,
    merge_heads,
    sample_super_tokens,
    split_heads,
    upsample,
)


def quantize_heads(x: Tensor, scale: Tensor) -> Tensor:
    """int8 codes of x [B, H, M, D] with per-head (or one) scale: clamp(floor(x / s + 0.5), +-127)."""
    scale = scale.float().reshape(-1).expand(x.shape[1]).reshape(1, -1, 1, 1)
    return torch.clamp(torch.floor(x.float() / scale + 0.5), -INT8_MAX, INT8_MAX).to(torch.int8)


def _refine_int8(stokens: Tensor, weights: tuple[Tensor, ...], num_heads: int, attn_scale: float,
                 scales: tuple[Tensor | None, ...]) -> Tensor:
    qkv_weight, qkv_bias, proj_weight, proj_bias = weights
    q_scale, k_scale, v_scale, p_scale = scales
    q, k, v = split_heads(stokens, qkv_weight, qkv_bias, num_heads)
    if v_scale is not None:
        v = quantize_heads(v, v_scale)
    out = softmax_attention_int8(
        quantize_heads(q, q_scale), quantize_heads(k, k_scale), v, attn_scale, q_scale, k_scale,
        v_scale, p_scale,
    )
    return merge_heads(out, proj_weight, proj_bias)


def super_token_attention_int8(
    x: Tensor,
    qkv_weight: Tensor,
    qkv_bias: Tensor,
    proj_weight: Tensor,
    proj_bias: Tensor,
    stoken_height: int,
    stoken_width: int,
    n_iter: int,
    num_heads: int,
    assoc_scale: float,
    attn_scale: float,
    q_scale: Tensor,
    k_scale: Tensor,
    v_scale: Tensor | None = None,
    p_scale: Tensor | None = None,
) -> Tensor:
    """Super token attention with int8 super-token Q.K^T (per-head q_scale, k_scale: [H] or [1]);
    with v_scale and p_scale also int8 P.V. Float x and weights; result in x's dtype."""
    check_inputs(x, qkv_weight, qkv_bias, proj_weight, proj_bias, stoken_height, stoken_width,
                 n_iter, num_heads)
    grid = StokenGrid(x.shape[2], x.shape[3], stoken_height, stoken_width)
    stokens, assoc = sample_super_tokens(x, grid, n_iter, assoc_scale)
    weights = (qkv_weight, qkv_bias, proj_weight, proj_bias)
    scales = (q_scale, k_scale, v_scale, p_scale)
    stokens = _refine_int8(stokens, weights, num_heads, attn_scale, scales)
    return upsample(stokens, assoc, grid, x.shape).to(x.dtype)
