"""Extra implementation `benchmarks/kernels.py` times for SuperTokenAttention: the INT8 super-token attention."""

from __future__ import annotations

import torch

from edgeattn.ops.fake_quant import DEFAULT_PROBABILITY_SCALE, symmetric_scale
from edgeattn.ops.super_token_attention import triton as kernels
from edgeattn.ops.super_token_attention.modules import capture


def variants(oc) -> list[tuple[str, object, int]]:
    """(name, callable returning the op's output, ideal bytes) per extra implementation. The INT8 path moves
    the same token-level bytes (x and the output stay float): only the super-token attention is int8."""
    if oc.inputs[0].dtype != torch.float16:
        return []
    stats = capture(*oc.inputs, **oc.attrs)
    q_scale, k_scale, v_scale = (symmetric_scale(stats[key], axis=1) for key in ("q", "k", "v"))
    p_scale = torch.full_like(q_scale, DEFAULT_PROBABILITY_SCALE)
    return [("triton-int8", lambda: kernels.super_token_attention_int8(
        *oc.inputs, **oc.attrs, q_scale=q_scale, k_scale=k_scale, v_scale=v_scale, p_scale=p_scale),
        oc.bytes_moved)]
