"""INT8 reference for MultiHeadAttention: the fp32 math with the kernels' fake quantization."""

from __future__ import annotations

from torch import Tensor

from edgeattn.ops.softmax_attention import int8_scores, softmax_attention_int8


__all__ = ["int8_scores", "multi_head_attention_int8"]


def multi_head_attention_int8(q: Tensor, k: Tensor, v: Tensor, scale: float, q_scale: Tensor, k_scale: Tensor,
                              v_scale: Tensor | None = None, p_scale: Tensor | None = None,
                              attn_bias: Tensor | None = None, key_mask: Tensor | None = None) -> Tensor:
    """int8 q, k with per-head scales; int8 v (P quantized with p_scale) or float v. fp32 output."""
    return softmax_attention_int8(q, k, v, scale, q_scale, k_scale, v_scale, p_scale, attn_bias, key_mask)
