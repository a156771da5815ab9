"""SuperTokenAttention as a torch custom op: one node in `torch.export` / `torch.onnx.export`."""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.ops.super_token_attention.reference import super_token_attention


@torch.library.custom_op("edgeattn::super_token_attention", mutates_args=())
def super_token_attention_op(
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
) -> Tensor:
    """x [B, C, H, W] and the super-token attention weights -> [B, C, H, W] (see reference.py)."""
    return super_token_attention(
        x, qkv_weight, qkv_bias, proj_weight, proj_bias, stoken_height, stoken_width, n_iter,
        num_heads, assoc_scale, attn_scale,
    )


@super_token_attention_op.register_fake
def _fake(x, qkv_weight, qkv_bias, proj_weight, proj_bias, stoken_height, stoken_width, n_iter,
          num_heads, assoc_scale, attn_scale):
    return torch.empty_like(x)
