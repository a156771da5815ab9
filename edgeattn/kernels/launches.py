"""Kernel launches of a plugin, described exactly as the C++ `KernelCall` describes them.

An op's `plugin/kernels.py` records its Python launcher's real kernel call (nothing runs) for each
data-type combination its plugin accepts; `variant_key` names the cubin that call needs, and
`describe` is the text the C++ plugin logs for the same launch (compared in the host tests).
"""

from __future__ import annotations

import struct
from dataclasses import dataclass
from typing import Any

from edgeattn.errors import EdgeattnError
from edgeattn.kernels.aot import KernelLaunch

TRT_TYPES = {"float32": "kFLOAT", "float16": "kHALF", "int8": "kINT8", "int32": "kINT32", "int64": "kINT64",
             "bool": "kBOOL", "uint8": "kUINT8"}
"""TensorRT DataType names of the torch dtypes plugins exchange (by `str(dtype)` without `torch.`)."""


@dataclass(frozen=True)
class PluginLaunch:
    """One launch of a plugin: its I/O types (inputs then outputs), the recorded call and pointer bindings.

    bindings: per pointer argument, what the plugin binds it to: "in<i>", "out<i>", "const+<byte offset>"
    or "ws+<byte offset>" (a buffer the launcher allocates, placed in the plugin workspace).
    workspace: bytes those buffers span (the plugin's getWorkspaceSize when the kernel needs no scratch).
    """

    io_types: tuple[str, ...]
    launch: KernelLaunch
    bindings: tuple[str, ...]
    workspace: int = 0

    @property
    def key(self) -> str:
        return variant_key(self.launch)

    @property
    def kernel_module(self) -> str:
        return _kernel_fn(self.launch).__module__

    def describe(self) -> str:
        """`KernelCall::describe()`: key, grid and arguments (bindings for pointers, values for scalars)."""
        pointers = iter(self.bindings)
        args = []
        for name, kind in _arguments(self.launch):
            args.append(next(pointers) if kind.startswith("*") else str(int(self.launch.args[name])))
        grid = ",".join(str(int(g)) for g in (*self.launch.grid, 1, 1)[:3])
        return f"{self.key} grid={grid} args={','.join(args)}"


def _kernel_fn(launch: KernelLaunch) -> Any:
    return launch.kernel.fn if hasattr(launch.kernel, "fn") else launch.kernel


def _arguments(launch: KernelLaunch) -> list[tuple[int, str]]:
    """(position, Triton type) of every non-constexpr argument, in kernel order."""
    types = [kind for kind in launch.signature.values() if kind != "constexpr"]
    if len(types) != len(launch.args):
        raise EdgeattnError(
            f"{launch.name}: {len(launch.args)} positional arguments for {len(types)} kernel parameters.",
            "Pass every runtime argument positionally and every constexpr by keyword.",
        )
    return list(enumerate(types))


def constexpr_text(value: Any) -> str:
    """How a key spells a constexpr: True/False, decimal ints, float32 bits as f32:<8 hex digits>."""
    if isinstance(value, bool):
        return str(value)
    if isinstance(value, int):
        return str(value)
    if isinstance(value, float):
        bits = struct.pack("<f", value)
        if struct.unpack("<f", bits)[0] != value:
            raise EdgeattnError(
                f"Float constexpr {value!r} is not a float32 value; the plugin gets float32 fields.",
                "Record launches with float(np.float32(attribute)).",
            )
        return f"f32:{struct.unpack('<I', bits)[0]:08x}"
    raise EdgeattnError(f"Cannot key a constexpr of type {type(value).__name__}.", "Use bool, int or float.")


def variant_key(launch: KernelLaunch) -> str:
    """`KernelCall::key()`: "kernel|argument types|constexprs sorted by name"."""
    types = ",".join(kind for _, kind in _arguments(launch))
    constexprs = ",".join(f"{name}={constexpr_text(v)}" for name, v in sorted(launch.constexprs.items()))
    return f"{launch.name}|{types}|{constexprs}"


def trt_type(dtype: Any) -> str:
    """TensorRT DataType name of a torch dtype."""
    name = str(dtype).removeprefix("torch.")
    if name not in TRT_TYPES:
        raise EdgeattnError(f"No TensorRT plugin type for {name}.", f"Use one of: {', '.join(TRT_TYPES)}.")
    return TRT_TYPES[name]


WORKSPACE_ALIGNMENT = 256
"""Byte alignment of workspace buffers (C++ kWorkspaceAlignment)."""


def workspace_names(launch: KernelLaunch, parameters: tuple[str, ...]) -> tuple[dict[int, str], int]:
    """Names ("ws+<offset>") of the buffers the launcher allocated for the kernel `parameters`, laid out
    in that order at aligned offsets as `KernelCall::reserveWorkspace` lays them, and the bytes spanned."""
    positions = {name: i for i, name in enumerate(n for n, kind in launch.signature.items() if kind != "constexpr")}
    names: dict[int, str] = {}
    end = 0
    for parameter in parameters:
        if parameter not in positions:
            raise EdgeattnError(f"{launch.name} has no runtime parameter {parameter!r}.",
                                "Name the kernel's workspace pointer parameters.")
        buffer = launch.args[positions[parameter]]
        offset = -(-end // WORKSPACE_ALIGNMENT) * WORKSPACE_ALIGNMENT
        names[buffer.data_ptr()] = f"ws+{offset}"
        end = offset + buffer.numel() * buffer.element_size()
    return names, end


def bindings_by_pointer(launch: KernelLaunch, names: dict[int, str]) -> tuple[str, ...]:
    """Pointer bindings of `launch` from `names` (tensor data_ptr -> "in0", "out0", "const+4", ...)."""
    result = []
    for position, kind in _arguments(launch):
        if not kind.startswith("*"):
            continue
        pointer = launch.args[position].data_ptr()
        if pointer not in names:
            raise EdgeattnError(
                f"{launch.name}: pointer argument {position} is none of the plugin's tensors.",
                "Record the launch with the tensors named in `names`.",
            )
        result.append(names[pointer])
    return tuple(result)
