"""Ahead-of-time compilation of edgeattn's Triton kernels for a chosen GPU, without a GPU.

`record_launch` runs a launcher with the kernel swapped for a recorder, so the exact arguments,
grid and compile-time constants of a real call are captured (nothing executes). `compile_launch`
turns that record into PTX and a cubin for a target architecture with Triton's own compiler
(LLVM and the bundled ptxas; no CUDA driver needed). This is what a TensorRT AOT plugin
(`@trtp.aot_impl`) ships, and it proves on a CPU-only machine that every kernel compiles for
Jetson Orin (sm_87) and Hopper (sm_90).
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from types import ModuleType
from typing import Any

import torch

from edgeattn.errors import EdgeattnError
from edgeattn.kernels.runtime import RECORDING_LAUNCHES, kernel_is_interpreted

POINTER_TYPES = {
    torch.float32: "*fp32",
    torch.float16: "*fp16",
    torch.bfloat16: "*bf16",
    torch.int8: "*i8",
    torch.uint8: "*u8",
    torch.int32: "*i32",
    torch.int64: "*i64",
    torch.bool: "*i1",
}


@dataclass
class KernelLaunch:
    """One recorded kernel call: the kernel, its grid, Triton signature, constexpr values and the
    positional arguments it was given (tensors and scalars, in kernel parameter order)."""

    kernel: Any
    grid: tuple[int, ...]
    signature: dict[str, str] = field(default_factory=dict)
    constexprs: dict[str, Any] = field(default_factory=dict)
    args: tuple[Any, ...] = ()

    @property
    def name(self) -> str:
        return self.kernel.fn.__name__ if hasattr(self.kernel, "fn") else self.kernel.__name__


class _Recorder:
    def __init__(self, kernel: Any, launches: list[KernelLaunch]) -> None:
        self.kernel = kernel
        self.launches = launches

    def __getitem__(self, grid: tuple[int, ...]) -> Callable[..., None]:
        def record(*args: Any, **constexprs: Any) -> None:
            names = self.kernel.arg_names
            signature = {name: _arg_type(value) for name, value in zip(names, args, strict=False)}
            signature.update({name: "constexpr" for name in constexprs})
            self.launches.append(KernelLaunch(self.kernel, tuple(grid), signature, constexprs, tuple(args)))

        return record


def _arg_type(value: Any) -> str:
    if isinstance(value, torch.Tensor):
        return POINTER_TYPES[value.dtype]
    if isinstance(value, bool):
        return "i1"
    if isinstance(value, int):
        return "i32" if -(2**31) <= value < 2**31 else "i64"
    raise EdgeattnError(
        f"Cannot type kernel argument {value!r} for AOT compilation.",
        "Pass tensors, ints or bools; float scalars must be tl.constexpr.",
    )


@contextlib.contextmanager
def _recording(module: ModuleType, kernel_name: str) -> Iterator[list[KernelLaunch]]:
    kernel = getattr(module, kernel_name)
    launches: list[KernelLaunch] = []
    setattr(module, kernel_name, _Recorder(kernel, launches))
    token = RECORDING_LAUNCHES.set(True)
    try:
        yield launches
    finally:
        RECORDING_LAUNCHES.reset(token)
        setattr(module, kernel_name, kernel)


def record_launch(
    module: ModuleType, kernel_name: str, launcher: Callable[..., Any], *args: Any, **kwargs: Any
) -> KernelLaunch:
    """The call `launcher(*args, **kwargs)` makes to `module.<kernel_name>`, recorded, not run."""
    with _recording(module, kernel_name) as launches:
        launcher(*args, **kwargs)
    if len(launches) != 1:
        raise EdgeattnError(
            f"{launcher.__name__} launched {kernel_name} {len(launches)} times.",
            "Record a launcher that launches the kernel exactly once.",
        )
    return launches[0]


def compile_launch(launch: KernelLaunch, arch: int = 87, num_warps: int = 4) -> Any:
    """Compile a recorded launch for CUDA sm_<arch>; result has `.asm["ptx"]`, `.asm["cubin"]`."""
    import triton
    from triton.backends.compiler import GPUTarget
    from triton.compiler import ASTSource

    if kernel_is_interpreted(launch.kernel):
        raise EdgeattnError(
            "Kernels were loaded under TRITON_INTERPRET=1 and cannot be compiled ahead of time.",
            "Compile in a process without TRITON_INTERPRET.",
        )
    source = ASTSource(launch.kernel, launch.signature, launch.constexprs)
    return triton.compile(
        source, target=GPUTarget("cuda", arch, 32), options={"num_warps": num_warps}
    )
