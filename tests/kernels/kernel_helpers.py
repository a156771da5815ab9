"""Helpers for the interpreter kernel tests: seeded inputs, NaN-poisoned outputs, tolerances."""

from __future__ import annotations

import torch

from edgeattn.ops import fake_quant
from edgeattn.tolerances import OP_FP16_ATOL, OP_FP32_ATOL, OP_FP32_RTOL

DTYPES = (torch.float32, torch.float16)
DTYPE_IDS = ["fp32", "fp16"]


def generator(seed: int = 42) -> torch.Generator:
    """The seeded CPU generator every test draws from."""
    return torch.Generator().manual_seed(seed)


def randn(
    gen: torch.Generator, *shape: int, dtype: torch.dtype = torch.float32, scale: float = 1.0
) -> torch.Tensor:
    """Seeded standard-normal values, scaled, cast to `dtype`."""
    return (torch.randn(shape, generator=gen) * scale).to(dtype)


def quantized(
    axis: int | None = None, **tensors: torch.Tensor
) -> tuple[dict[str, torch.Tensor], dict[str, torch.Tensor]]:
    """int8 codes of the named tensors and their max-abs scales (per tensor or per `axis` index)."""
    scales = {name: fake_quant.symmetric_scale(t, axis) for name, t in tensors.items()}
    quant = {name: fake_quant.quantize(t, scales[name], axis) for name, t in tensors.items()}
    return quant, scales


def poisoned(shape: tuple[int, ...] | torch.Size, dtype: torch.dtype) -> torch.Tensor:
    """An output buffer full of NaN: any element the kernel forgets to write fails the test."""
    return torch.full(tuple(shape), float("nan"), dtype=dtype)


def assert_matches(out: torch.Tensor, ref: torch.Tensor, dtype: torch.dtype) -> None:
    """Kernel output vs the fp32 reference with edgeattn's op tolerance for `dtype`."""
    assert not torch.isnan(out).any(), "kernel left NaN (unwritten) elements"
    if dtype == torch.float16:
        torch.testing.assert_close(out.float(), ref.float(), atol=OP_FP16_ATOL, rtol=0.0)
    else:
        torch.testing.assert_close(out.float(), ref.float(), atol=OP_FP32_ATOL, rtol=OP_FP32_RTOL)
