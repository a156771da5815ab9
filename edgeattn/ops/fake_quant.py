"""Symmetric INT8 fake quantization shared by the INT8 references and the INT8 kernel tests.

Conventions (the same as TensorRT/ONNX Q/DQ and the Triton INT8 kernels):
- symmetric, zero point 0, range [-127, 127]; `quantize` rounds half to even (ONNX QuantizeLinear);
- scales are per tensor (a 0-d or 1-element tensor) or per head (one value per index of `axis`);
- softmax probabilities are quantized inside the kernels to [0, 127] with floor(p / scale + 0.5)
  (`quantize_probabilities` reproduces that rounding exactly).
"""

from __future__ import annotations

import torch
from torch import Tensor

from edgeattn.errors import UsageError

INT8_MAX = 127
DEFAULT_PROBABILITY_SCALE = 1.0 / INT8_MAX
"""Probability scale when none is calibrated: [0, 1] onto [0, 127]."""


def _broadcast(scale: Tensor | float, like: Tensor, axis: int | None) -> Tensor:
    scale = torch.as_tensor(scale, dtype=torch.float32, device=like.device)
    if axis is None or scale.numel() == 1:
        return scale.reshape(())
    axis = axis % like.dim()
    if scale.numel() != like.shape[axis]:
        raise UsageError(
            f"per-head scale has {scale.numel()} values but axis {axis} has {like.shape[axis]}.",
            "Pass one scale per head (or a single per-tensor scale).",
        )
    shape = [1] * like.dim()
    shape[axis] = -1
    return scale.reshape(shape)


def symmetric_scale(x: Tensor, axis: int | None = None) -> Tensor:
    """Max-abs scale (amax / 127) per tensor or per index of `axis`; never zero."""
    x = x.detach().float().abs()
    if axis is None:
        amax = x.amax().reshape(1)
    else:
        dims = [d for d in range(x.dim()) if d != axis % x.dim()]
        amax = x.amax(dim=dims)
    return torch.clamp(amax, min=torch.finfo(torch.float32).tiny) / INT8_MAX


def quantize(x: Tensor, scale: Tensor | float, axis: int | None = None) -> Tensor:
    """int8 values round_half_even(x / scale) clamped to [-127, 127]."""
    q = torch.round(x.float() / _broadcast(scale, x, axis))
    return torch.clamp(q, -INT8_MAX, INT8_MAX).to(torch.int8)


def dequantize(x_q: Tensor, scale: Tensor | float, axis: int | None = None) -> Tensor:
    """fp32 values x_q * scale."""
    return x_q.float() * _broadcast(scale, x_q, axis)


def fake_quantize(x: Tensor, scale: Tensor | float, axis: int | None = None) -> Tensor:
    """dequantize(quantize(x)) in fp32."""
    return dequantize(quantize(x, scale, axis), scale, axis)


def quantize_probabilities(p: Tensor, scale: Tensor | float, axis: int | None = None) -> Tensor:
    """int8 codes floor(p / scale + 0.5) clamped to [0, 127], as the kernels quantize P."""
    q = torch.floor(p.float() / _broadcast(scale, p, axis) + 0.5)
    return torch.clamp(q, 0, INT8_MAX).to(torch.int8)


def integer_matmul(a_q: Tensor, b_q: Tensor) -> Tensor:
    """Exact int32 product of int8 tensors (the kernels' int32 accumulator)."""
    return torch.matmul(a_q.to(torch.float64), b_q.to(torch.float64)).to(torch.int32)
