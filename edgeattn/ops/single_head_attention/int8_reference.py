"""INT8 reference for SingleHeadAttention: the shared INT8 softmax attention maths on one head."""

from __future__ import annotations

from torch import Tensor

from edgeattn.ops.fake_quant import integer_matmul
from edgeattn.ops.softmax_attention import softmax_attention_int8


def int8_scores(q: Tensor, k: Tensor) -> Tensor:
    """Exact int32 q^T k accumulators of int8 q, k [B, Dqk, N] -> [B, N, N]."""
    return integer_matmul(q.transpose(-2, -1), k)


def _one_head(x: Tensor) -> Tensor:
    return x.transpose(1, 2).unsqueeze(1)


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
    out = softmax_attention_int8(
        _one_head(q), _one_head(k), _one_head(v), scale, q_scale, k_scale, v_scale, p_scale
    )
    return out.squeeze(1).transpose(-2, -1)
