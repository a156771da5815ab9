"""fp32 reference for MultiHeadAttention: per-head softmax attention, optional bias and key mask."""

from __future__ import annotations

from torch import Tensor

from edgeattn.ops.softmax_attention import attention_probabilities, softmax_attention

__all__ = ["attention_probabilities", "multi_head_attention"]


def multi_head_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    scale: float,
    attn_bias: Tensor | None = None,
    key_mask: Tensor | None = None,
) -> Tensor:
    """Softmax attention per head.

    q: [B, H, N, D]; k: [B, H, M, D]; v: [B, H, M, Dv] -> [B, H, N, Dv].
    attn_bias: optional additive bias [H, N, M] or [B, H, N, M], added after scaling.
    key_mask: optional [B, M], True (bool) or non-zero (int32) marks a valid key; invalid keys get zero weight.
    A query row whose keys are all invalid yields zeros. Computed in fp32, cast back to v's dtype.
    """
    return softmax_attention(q, k, v, scale, attn_bias, key_mask)
