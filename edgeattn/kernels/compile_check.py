"""Compile every edgeattn Triton kernel variant for CUDA targets on a machine without a GPU.

    python -m edgeattn.kernels.compile_check [--arch 87 90]

Each variant is a real launcher call on small CPU tensors, recorded (not run) and compiled to
PTX and a cubin with `edgeattn.kernels.aot`. It catches what Triton's CPU interpreter cannot:
GPU-only type rules, `tl.dot` shape limits and code-generation failures. Must run without
TRITON_INTERPRET.
"""

from __future__ import annotations

import argparse
import importlib
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import torch

from edgeattn.errors import EdgeattnError


@dataclass(frozen=True)
class Variant:
    """One launcher configuration: where the kernel lives, the launcher, and its arguments."""

    name: str
    kernel_module: str
    kernel_name: str
    launcher: str
    make_args: Callable[[], tuple[tuple[Any, ...], dict[str, Any]]]


def _t(*shape: int, dtype: torch.dtype = torch.float16) -> torch.Tensor:
    return torch.zeros(shape, dtype=dtype)


def _scales(n: int) -> torch.Tensor:
    return torch.ones(n)


I8 = torch.int8
ATTENTION = "edgeattn.kernels.attention"
VARIANTS = [
    Variant(
        "SingleHeadAttention fp32",
        ATTENTION,
        "attention_fwd_kernel",
        "edgeattn.ops.single_head_attention.triton:single_head_attention",
        lambda: (
            (
                _t(1, 16, 49, dtype=torch.float32),
                _t(1, 16, 49, dtype=torch.float32),
                _t(1, 48, 49, dtype=torch.float32),
                0.25,
            ),
            {},
        ),
    ),
    Variant(
        "MultiHeadAttention fp16 bias+mask",
        ATTENTION,
        "attention_fwd_kernel",
        "edgeattn.ops.multi_head_attention.triton:multi_head_attention",
        lambda: (
            (_t(1, 8, 36, 24), _t(1, 8, 36, 24), _t(1, 8, 36, 24), 0.2),
            {"attn_bias": _t(8, 36, 36), "key_mask": _t(1, 36, dtype=torch.bool)},
        ),
    ),
    Variant(
        "MultiHeadAttention int8 (int8 P.V, scores)",
        ATTENTION,
        "attention_int8_kernel",
        "edgeattn.ops.multi_head_attention.triton:multi_head_attention_int8",
        lambda: (
            (
                _t(1, 2, 49, 32, dtype=I8),
                _t(1, 2, 49, 32, dtype=I8),
                _t(1, 2, 49, 32, dtype=I8),
                0.18,
                _scales(2),
                _scales(2),
                _scales(2),
                _scales(2),
            ),
            {"scores": _t(1, 2, 49, 49, dtype=torch.int32)},
        ),
    ),
    Variant(
        "SingleHeadAttention int8 (fp16 P.V)",
        ATTENTION,
        "attention_int8_kernel",
        "edgeattn.ops.single_head_attention.triton:single_head_attention_int8",
        lambda: (
            (
                _t(1, 16, 49, dtype=I8),
                _t(1, 16, 49, dtype=I8),
                _t(1, 48, 49),
                0.25,
                _scales(1),
                _scales(1),
            ),
            {},
        ),
    ),
    Variant(
        "ReLULinearAttention fp16",
        "edgeattn.ops.relu_linear_attention.triton",
        "relu_linear_attention_kernel",
        "edgeattn.ops.relu_linear_attention.triton:relu_linear_attention",
        lambda: ((_t(1, 8, 196, 16), _t(1, 8, 196, 16), _t(1, 8, 196, 16), 1e-5), {}),
    ),
    Variant(
        "ReLULinearAttention int8 (state)",
        "edgeattn.ops.relu_linear_attention.triton",
        "relu_linear_attention_kernel",
        "edgeattn.ops.relu_linear_attention.triton:relu_linear_attention_int8",
        lambda: (
            (
                _t(1, 8, 196, 16, dtype=I8),
                _t(1, 8, 196, 16, dtype=I8),
                _t(1, 8, 196, 16, dtype=I8),
                1e-5,
                _scales(8),
                _scales(8),
                _scales(8),
            ),
            {"state": _t(1, 8, 16, 16, dtype=torch.int32)},
        ),
    ),
    Variant(
        "DFCAttention fp16",
        "edgeattn.ops.dfc_attention.triton",
        "dfc_attention_kernel",
        "edgeattn.ops.dfc_attention.triton:dfc_attention",
        lambda: (
            (_t(1, 72, 3, 3), _t(72, 1, 1, 5), _t(72), _t(72, 1, 5, 1), _t(72), _t(1, 72, 7, 7)),
            {},
        ),
    ),
    Variant(
        "LargeKernelAttention fp16",
        "edgeattn.ops.large_kernel_attention.triton",
        "large_kernel_attention_kernel",
        "edgeattn.ops.large_kernel_attention.triton:large_kernel_attention",
        lambda: ((_t(1, 32, 56, 56), _t(32, 1, 5, 5), _t(32), _t(32, 1, 7, 7), _t(32), 3), {}),
    ),
    Variant(
        "SetAttention fp16",
        "edgeattn.ops.set_attention.triton",
        "set_attention_kernel",
        "edgeattn.ops.set_attention.triton:set_attention",
        lambda: (
            (
                _t(72, 192),
                _t(72, 192),
                _t(72, 192),
                torch.arange(72).reshape(2, 36),
                torch.ones(2, 36, dtype=torch.bool),
                torch.arange(72),
                8,
                0.2,
            ),
            {},
        ),
    ),
]


def compile_variant(variant: Variant, arch: int) -> tuple[str, Any]:
    """Compile one variant for sm_<arch>; returns (kernel name, Triton's compiled kernel)."""
    from edgeattn.kernels.aot import compile_launch, record_launch

    module_name, function = variant.launcher.split(":")
    launcher = getattr(importlib.import_module(module_name), function)
    args, kwargs = variant.make_args()
    launch = record_launch(
        importlib.import_module(variant.kernel_module),
        variant.kernel_name,
        launcher,
        *args,
        **kwargs,
    )
    return launch.name, compile_launch(launch, arch=arch)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--arch",
        nargs="+",
        type=int,
        default=[87, 90],
        help="CUDA compute capabilities (87 = Jetson Orin, 90 = Hopper)",
    )
    args = parser.parse_args(argv)
    failures = 0
    for arch in args.arch:
        for variant in VARIANTS:
            start = time.perf_counter()
            try:
                name, compiled = compile_variant(variant, arch)
            except EdgeattnError as exc:
                print(str(exc), file=sys.stderr)
                return exc.exit_code
            except Exception as exc:  # a compiler failure is the finding: report and go on
                failures += 1
                print(f"sm_{arch}  FAIL  {variant.name}: {type(exc).__name__}: {exc}")
                continue
            ptx = len(compiled.asm["ptx"])
            print(
                f"sm_{arch}  ok    {variant.name} ({name}, {ptx} B PTX, "
                f"{time.perf_counter() - start:.1f} s)"
            )
    return 1 if failures else 0


if __name__ == "__main__":
    sys.exit(main())
