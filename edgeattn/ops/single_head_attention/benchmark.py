"""Extra implementations `benchmarks/kernels.py` times for SingleHeadAttention: SDPA and the INT8 kernel."""

from __future__ import annotations

import torch
import torch.nn.functional as F

from edgeattn.ops.fake_quant import DEFAULT_PROBABILITY_SCALE, quantize, symmetric_scale
from edgeattn.ops.single_head_attention import triton as kernels


def variants(oc) -> list[tuple[str, object, int]]:
    """(name, callable returning the op's output layout, ideal bytes) per extra implementation."""
    q, k, v = (t.transpose(1, 2).unsqueeze(1) for t in oc.inputs)
    scale = oc.attrs["scale"]
    found = [("sdpa", lambda: F.scaled_dot_product_attention(q, k, v, scale=scale).squeeze(1).transpose(1, 2),
              oc.bytes_moved)]
    if oc.inputs[0].dtype == torch.float16:
        scales = [symmetric_scale(t) for t in oc.inputs]
        q8, k8, v8 = (quantize(t, s) for t, s in zip(oc.inputs, scales, strict=True))
        p_scale = torch.full_like(scales[0], DEFAULT_PROBABILITY_SCALE)
        moved = sum(t.numel() for t in (q8, k8, v8)) + v8.numel() * 2
        found.append(("triton-int8", lambda: kernels.single_head_attention_int8(q8, k8, v8, scale, *scales, p_scale),
                      moved))
    return found
