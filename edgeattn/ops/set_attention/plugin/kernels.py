"""The Triton kernel launch the SetAttention plugin makes, recorded from the Python launcher.

Mirrors `set_attention_plugin.cpp`: the accepted I/O types (`io_types`) and, per type combination,
the exact launch of `triton.py` at a node's shapes (recorded, nothing runs). The voxel count N and
the set count S are dynamic; a symbolic one is recorded as 1 (the kernel variant does not depend
on them, only the grid and the scalar arguments do). The host tests compare it with the C++ plan.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from edgeattn.errors import UsageError
from edgeattn.kernels.aot import record_launch
from edgeattn.ops.spec import ShapeCase
from edgeattn.kernels.launches import PluginLaunch, bindings_by_pointer, trt_type

INPUTS = ("q", "k", "v", "set_inds", "set_valid", "voxel_slot")
DYNAMIC = {"q": (0,), "k": (0,), "v": (0,), "set_inds": (0,), "set_valid": (0,), "voxel_slot": (0,)}
"""Axes that may be symbolic: N of q, k, v and voxel_slot, S of set_inds and set_valid."""


def io_types(attributes: dict[str, Any]) -> list[tuple[torch.dtype, ...]]:
    """(q, k, v, set_inds, set_valid, voxel_slot, out) dtypes the plugin accepts (its ioTypes())."""
    return [(value,) * 3 + (index, torch.int32, index, value)
            for value in (torch.float32, torch.float16) for index in (torch.int32, torch.int64)]


def _static_shapes(shapes: list[list[int | str | None]]) -> list[list[int]]:
    """Input shapes with symbolic voxel and set counts read as 1."""
    static = []
    for name, shape in zip(INPUTS, shapes, strict=True):
        dims = [1 if axis in DYNAMIC[name] and not isinstance(d, int) else d for axis, d in enumerate(shape)]
        if not all(isinstance(d, int) for d in dims):
            raise UsageError(
                f"SetAttention input {name} has shape {shape}; only the voxel and set counts may be dynamic.",
                "Export with a static channel count and set size.",
            )
        static.append(dims)
    return static


def _record(types: tuple[torch.dtype, ...], shapes: list[list[int]], attributes: dict[str, Any]) -> PluginLaunch:
    from edgeattn.ops.set_attention import triton as sa

    tensors = [torch.zeros(shape, dtype=dtype) for shape, dtype in zip(shapes, types, strict=False)]
    out = torch.zeros([shapes[5][0], shapes[0][1]], dtype=types[6])
    heads, scale = int(attributes["num_heads"]), float(np.float32(attributes["scale"]))
    launch = record_launch(sa, "set_attention_kernel", sa.set_attention, *tensors, heads, scale, out=out)
    names = {t.data_ptr(): f"in{i}" for i, t in enumerate(tensors)}
    names[out.data_ptr()] = "out0"
    return PluginLaunch(tuple(trt_type(t) for t in types), launch, bindings_by_pointer(launch, names))


def node_launches(attributes: dict[str, Any], shapes: list[list[int | str | None]]) -> list[PluginLaunch]:
    """Every launch the plugin may make for a node: one per accepted type combination."""
    static = _static_shapes(shapes)
    return [_record(types, static, attributes) for types in io_types(attributes)]


def case_attributes(case: ShapeCase) -> dict[str, Any]:
    """Plugin attributes of a spec.yaml case: `num_heads` and `scale` (head_dim ** -0.5 as float32)."""
    heads = int(case.attributes["num_heads"])
    channels = int(case.shapes["q"][1])
    return {"num_heads": heads, "scale": float(np.float32((channels // heads) ** -0.5))}
