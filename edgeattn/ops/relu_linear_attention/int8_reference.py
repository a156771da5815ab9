"""INT8 reference for ReLULinearAttention: the fp32 math on dequantized int8 inputs."""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.ops.fake_quant import dequantize, integer_matmul
from edgeattn.ops.relu_linear_attention.reference import relu_linear_attention


def int8_state(k: Tensor, v: Tensor) -> Tensor:
    """Exact int32 relu(k)^T v accumulators of int8 k [B,H,N,D], v [B,H,N,Dv] -> [B,H,D,Dv]."""
    return integer_matmul(torch.relu(k).transpose(-2, -1), v)


def relu_linear_attention_int8(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    eps: float,
    q_scale: Tensor,
    k_scale: Tensor,
    v_scale: Tensor | None = None,
) -> Tensor:
    """int8 q, k (per-head scales) and int8 (v_scale) or float v; fp32 output.

    Dequantization commutes with ReLU for positive scales, so this is the fp32 reference on
    the dequantized inputs.
    """
    heads = q.shape[1]

    def per_head(x: Tensor, scale: Tensor) -> Tensor:
        return dequantize(x, scale.float().reshape(-1).expand(heads), axis=1)

    v = per_head(v, v_scale) if v.dtype == torch.int8 else v.float()
    return relu_linear_attention(per_head(q, q_scale), per_head(k, k_scale), v, eps)
