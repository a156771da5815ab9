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


COMPILE = """
import importlib, sys, torch
from edgeattn.kernels.aot import compile_launch, record_launch
module_name, kernel, launcher, shapes, extra = sys.argv[1], sys.argv[2], sys.argv[3], eval(sys.argv[4]), eval(sys.argv[5])
module = importlib.import_module(module_name)
args = [torch.zeros(s, dtype=torch.float16) if isinstance(s, tuple) else s for s in shapes]
launch = record_launch(module, kernel, getattr(module, launcher), *args, *extra)
sys.stdout.write(compile_launch(launch, arch=87).asm["ptx"])
"""


def compiled_ptx(module: str, kernel: str, launcher: str, shapes: list, extra: tuple = ()) -> str:
    """PTX of one fp16 launch compiled for sm_87 in a child process (kernels cannot be compiled under
    TRITON_INTERPRET, which this suite sets). `shapes`: tensor shapes (tuples) and scalars, in order."""
    import os
    import subprocess
    import sys

    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    result = subprocess.run([sys.executable, "-c", COMPILE, module, kernel, launcher, repr(shapes), repr(extra)],
                            env=env, capture_output=True, text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    return result.stdout


def assert_workspace_barrier(ptx: str) -> None:
    """Workspace kernels: a CTA barrier between the phases, and workspace reads through L2 (not the
    read-only cache, which would not see the other threads' writes)."""
    assert "bar.sync" in ptx and "ld.global.cg" in ptx
    assert "ld.global.nc" not in ptx
