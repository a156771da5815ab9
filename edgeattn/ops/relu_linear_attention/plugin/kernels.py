"""The Triton kernel launches the ReLULinearAttention plugin makes, recorded from the Python launchers.

Mirrors `relu_linear_attention_plugin.cpp`: the accepted I/O types (`io_types`) and, per type
combination, the exact launch of `triton.py` at a node's shapes (recorded, nothing runs). The C++
plan must describe the same launch; the host tests compare the two.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from edgeattn.errors import UsageError
from edgeattn.ops.spec import ShapeCase
from edgeattn.kernels.launches import PluginLaunch, bindings_by_pointer, trt_type

F32, F16, I8 = torch.float32, torch.float16, torch.int8
INT8_SCALES = ("int8_q_scales", "int8_k_scales", "int8_v_scales")
OUTPUT_SCALES = "int8_o_scales"
FLOAT_TYPES = ((F32, F32, F32, F32), (F16, F16, F16, F16))
INT8_QK_TYPES = ((I8, I8, F32, F32), (I8, I8, F16, F16))
INT8_QKV_TYPES = ((I8, I8, I8, F16),)


def io_types(attributes: dict[str, Any]) -> list[tuple[torch.dtype, ...]]:
    """(q, k, v, out) dtypes the plugin accepts for a node with these attributes (its ioTypes())."""
    types = list(FLOAT_TYPES)
    if "int8_q_scales" in attributes:
        types += INT8_QK_TYPES
    if "int8_v_scales" in attributes:
        types += INT8_QKV_TYPES
    return types


def _static_shapes(shapes: list[list[int | str | None]]) -> list[list[int]]:
    """Input shapes with a symbolic batch read as 1 (block sizes and the grid per batch do not depend on it)."""
    static = []
    for name, shape in zip(("q", "k", "v"), shapes, strict=True):
        dims = [1 if axis == 0 and not isinstance(d, int) else d for axis, d in enumerate(shape)]
        if not all(isinstance(d, int) for d in dims):
            raise UsageError(
                f"ReLULinearAttention input {name} has shape {shape}; heads, tokens and channels must be static.",
                "Export at a fixed resolution (only the batch may be dynamic).",
            )
        static.append(dims)
    return static


def _per_head(attributes: dict[str, Any], name: str, heads: int) -> torch.Tensor:
    """A scale field (1 value, or one per head) as `heads` float32 values, as the plugin uploads it."""
    values = attributes[name]
    if len(values) not in (1, heads):
        raise UsageError(
            f"ReLULinearAttention field {name!r} has {len(values)} values for {heads} heads.",
            "Give one scale per head (or one for all heads).",
        )
    return torch.tensor(values, dtype=F32).expand(heads).contiguous()


def _record(types: tuple[torch.dtype, ...], shapes: list[list[int]], attributes: dict[str, Any]) -> PluginLaunch:
    from edgeattn.kernels.aot import record_launch
    from edgeattn.ops.relu_linear_attention import triton as rla

    q, k, v = (torch.zeros(shape, dtype=dtype) for shape, dtype in zip(shapes, types, strict=False))
    out = torch.zeros(shapes[2], dtype=types[3])
    eps = float(np.float32(attributes["eps"]))
    names = {q.data_ptr(): "in0", k.data_ptr(): "in1", v.data_ptr(): "in2", out.data_ptr(): "out0"}
    kernel = "relu_linear_attention_kernel"
    if types[0] != I8:
        launch = record_launch(rla, kernel, rla.relu_linear_attention, q, k, v, eps, out=out)
    else:
        heads = shapes[0][1]
        count = 3 if types[2] == I8 else 2
        scales = [_per_head(attributes, name, heads) for name in INT8_SCALES[:count]]
        names.update({s.data_ptr(): f"const+{4 * heads * i}" for i, s in enumerate(scales)})
        launch = record_launch(rla, kernel, rla.relu_linear_attention_int8, q, k, v, eps, *scales, out=out)
    return PluginLaunch(tuple(trt_type(t) for t in types), launch, bindings_by_pointer(launch, names))


def node_launches(attributes: dict[str, Any], shapes: list[list[int | str | None]]) -> list[PluginLaunch]:
    """Every launch the plugin may make for a node: one per accepted type combination."""
    static = _static_shapes(shapes)
    return [_record(types, static, attributes) for types in io_types(attributes)]


def case_attributes(case: ShapeCase) -> dict[str, Any]:
    """Plugin attributes of a spec.yaml case: its own plus unit per-head INT8 scales (all launches covered)."""
    heads = case.shapes["q"][1]
    return {**case.attributes, **{name: [1.0] * heads for name in (*INT8_SCALES, OUTPUT_SCALES)}}
