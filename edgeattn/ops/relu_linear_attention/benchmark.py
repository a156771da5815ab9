"""Extra implementation `benchmarks/kernels.py` times for ReLULinearAttention: the INT8 kernel."""

from __future__ import annotations

import torch

from edgeattn.ops.fake_quant import quantize, symmetric_scale
from edgeattn.ops.relu_linear_attention import triton as kernels


def variants(oc) -> list[tuple[str, object, int]]:
    """(name, callable returning the op's output, ideal bytes) per extra implementation."""
    if oc.inputs[0].dtype != torch.float16:
        return []
    scales = [symmetric_scale(t, axis=1) for t in oc.inputs]
    q8, k8, v8 = (quantize(t, s, axis=1) for t, s in zip(oc.inputs, scales, strict=True))
    eps = oc.attrs["eps"]
    moved = sum(t.numel() for t in (q8, k8, v8)) + v8.numel() * 2
    return [("triton-int8", lambda: kernels.relu_linear_attention_int8(q8, k8, v8, eps, *scales), moved)]
