"""The Triton kernel launch the DFCAttention plugin makes, recorded from the Python launcher.

Mirrors `dfc_attention_plugin.cpp`: the accepted I/O types (`io_types`) and, per type combination,
the exact launch of `triton.py` at a node's shapes (recorded, nothing runs), with the launcher's
fp32 gate buffer placed in the plugin workspace. The host tests compare it with the C++ plan.
"""

from __future__ import annotations

from typing import Any

import torch

from edgeattn.errors import UsageError
from edgeattn.kernels.aot import record_launch
from edgeattn.ops.spec import ShapeCase
from edgeattn.kernels.launches import PluginLaunch, bindings_by_pointer, trt_type, workspace_names

INPUTS = ("gate", "w_h", "b_h", "w_v", "b_v", "features")
FLOAT_TYPES = ((torch.float32,) * 7, (torch.float16,) * 7)


def io_types(attributes: dict[str, Any]) -> list[tuple[torch.dtype, ...]]:
    """(gate, w_h, b_h, w_v, b_v, features, out) dtypes the plugin accepts (its ioTypes())."""
    return list(FLOAT_TYPES)


def _static_shapes(shapes: list[list[int | str | None]]) -> list[list[int]]:
    """Input shapes with a symbolic batch read as 1 (the kernel variant does not depend on it)."""
    static = []
    for name, shape in zip(INPUTS, shapes, strict=True):
        dims = [1 if axis == 0 and name in ("gate", "features") and not isinstance(d, int) else d
                for axis, d in enumerate(shape)]
        if not all(isinstance(d, int) for d in dims):
            raise UsageError(
                f"DFCAttention input {name} has shape {shape}; only the batch may be dynamic.",
                "Export at a fixed resolution (--img-size).",
            )
        static.append(dims)
    return static


def _record(types: tuple[torch.dtype, ...], shapes: list[list[int]]) -> PluginLaunch:
    from edgeattn.ops.dfc_attention import triton as dfc

    tensors = [torch.zeros(shape, dtype=dtype) for shape, dtype in zip(shapes, types, strict=False)]
    out = torch.zeros(shapes[5], dtype=types[6])
    launch = record_launch(dfc, "dfc_attention_kernel", dfc.dfc_attention, *tensors, out=out)
    names = {t.data_ptr(): f"in{i}" for i, t in enumerate(tensors)}
    names[out.data_ptr()] = "out0"
    workspace, size = workspace_names(launch, ("work_ptr",))
    names.update(workspace)
    return PluginLaunch(tuple(trt_type(t) for t in types), launch, bindings_by_pointer(launch, names), size)


def node_launches(attributes: dict[str, Any], shapes: list[list[int | str | None]]) -> list[PluginLaunch]:
    """Every launch the plugin may make for a node: one per accepted type combination."""
    static = _static_shapes(shapes)
    return [_record(types, static) for types in io_types(attributes)]


def case_attributes(case: ShapeCase) -> dict[str, Any]:
    """Plugin attributes of a spec.yaml case (the op has none of its own)."""
    return dict(case.attributes)
