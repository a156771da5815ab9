"""Extra implementations `benchmarks/kernels.py` times for MultiHeadAttention: SDPA and the INT8 kernel."""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

from edgeattn.ops.fake_quant import DEFAULT_PROBABILITY_SCALE, quantize, symmetric_scale
from edgeattn.ops.multi_head_attention import triton as kernels


def _sdpa_mask(oc, dtype: torch.dtype) -> torch.Tensor | None:
    mask = oc.attrs["attn_bias"].to(dtype) if oc.attrs.get("attn_bias") is not None else None
    if oc.attrs.get("key_mask") is not None:
        key_mask = oc.attrs["key_mask"][:, None, None, :]
        additive = torch.zeros(key_mask.shape, dtype=dtype, device=key_mask.device).masked_fill(~key_mask, float("-inf"))
        mask = additive if mask is None else mask + additive
    return mask


def variants(oc) -> list[tuple[str, object, int]]:
    """(name, callable returning the op's output layout, ideal bytes) per extra implementation."""
    q, k, v = oc.inputs
    scale, mask = oc.attrs["scale"], _sdpa_mask(oc, q.dtype)
    found = [("sdpa", lambda: F.scaled_dot_product_attention(q, k, v, attn_mask=mask, scale=scale), oc.bytes_moved)]
    if q.dtype == torch.float16:
        scales = [symmetric_scale(t, axis=1) for t in oc.inputs]
        q8, k8, v8 = (quantize(t, s, axis=1) for t, s in zip(oc.inputs, scales, strict=True))
        p_scale = torch.full_like(scales[0], DEFAULT_PROBABILITY_SCALE)
        options = {key: oc.attrs[key] for key in ("attn_bias", "key_mask") if key in oc.attrs}
        extra = sum(t.numel() * t.element_size() for t in options.values())
        moved = sum(t.numel() for t in (q8, k8, v8)) + math.prod(q8.shape[:3]) * v8.shape[3] * 2 + extra
        found.append(("triton-int8", lambda: kernels.multi_head_attention_int8(q8, k8, v8, scale, *scales, p_scale,
                                                                               **options), moved))
    return found
