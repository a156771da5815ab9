"""INT8 reference for SingleHeadAttention: the fp32 math with the kernels' fake quantization."""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.ops.fake_quant import dequantize, integer_matmul, quantize_probabilities


def int8_scores(q: Tensor, k: Tensor) -> Tensor:
    """Exact int32 q^T k accumulators of int8 q, k [B, Dqk, N] -> [B, N, N]."""
    return integer_matmul(q.transpose(-2, -1), k)


def single_head_attention_int8(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    q_scale: Tensor,
    k_scale: Tensor,
    v_scale: Tensor | None = None,
    p_scale: Tensor | None = None,
) -> Tensor:
    """int8 q, k (per-tensor scales); v int8 with v_scale and P quantized with p_scale, or v float.

    Returns fp32 [B, Dv, N].
    """
    scores = int8_scores(q, k).float() * (
        q_scale.float().reshape(()) * k_scale.float().reshape(()) * scale
    )
    attn = torch.softmax(scores, dim=-1)
    if v.dtype == torch.int8:
        attn = dequantize(quantize_probabilities(attn, p_scale), p_scale)
        v = dequantize(v, v_scale)
    return torch.matmul(v.float(), attn.transpose(-2, -1))
