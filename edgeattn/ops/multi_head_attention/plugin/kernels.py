"""The Triton kernel launches the MultiHeadAttention plugin makes, recorded from the Python launchers.

Mirrors `multi_head_attention_plugin.cpp`: the accepted I/O types (`io_types`) and, per type
combination, the exact launch of `triton.py` at a node's shapes (recorded, nothing runs). The C++
plan must describe the same launch; the host tests compare the two. The optional inputs follow
q, k, v in the node's order: `attn_bias` (when has_attn_bias, typed like the output) then
`key_mask` (when has_key_mask, int32: the plugin graph casts the bool mask).
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from edgeattn.errors import UsageError
from edgeattn.ops.spec import ShapeCase
from edgeattn.kernels.launches import PluginLaunch, bindings_by_pointer, trt_type

F32, F16, I8, I32 = torch.float32, torch.float16, torch.int8, torch.int32
INT8_SCALES = ("int8_q_scales", "int8_k_scales", "int8_v_scales", "int8_p_scales")
OUTPUT_SCALES = "int8_o_scales"
FLOAT_QKV = ((F32, F32, F32, F32), (F16, F16, F16, F16))
INT8_QK = ((I8, I8, F32, F32), (I8, I8, F16, F16))
INT8_QKV = ((I8, I8, I8, F16),)
"""(q, k, v, out) dtypes; the optional inputs are inserted before out."""


def _optional(attributes: dict[str, Any]) -> tuple[bool, bool]:
    return bool(attributes["has_attn_bias"]), bool(attributes["has_key_mask"])


def io_types(attributes: dict[str, Any]) -> list[tuple[torch.dtype, ...]]:
    """(q, k, v, [attn_bias], [key_mask], out) dtypes accepted for a node with these attributes."""
    qkv = list(FLOAT_QKV)
    if "int8_q_scales" in attributes:
        qkv += INT8_QK
    if "int8_v_scales" in attributes:
        qkv += INT8_QKV
    bias, mask = _optional(attributes)
    return [(*t[:3], *((t[3],) if bias else ()), *((I32,) if mask else ()), t[3]) for t in qkv]


def _static_shapes(shapes: list[list[int | str | None]]) -> list[list[int]]:
    """Input shapes with a symbolic leading dim (batch, or DSVT's pooling regions) read as 1."""
    static = []
    for index, shape in enumerate(shapes):
        dims = [1 if axis == 0 and not isinstance(d, int) else d for axis, d in enumerate(shape)]
        if not all(isinstance(d, int) for d in dims):
            raise UsageError(
                f"MultiHeadAttention input {index} has shape {shape}; only its first dim may be symbolic.",
                "Export at a fixed resolution (only the batch may be dynamic).",
            )
        static.append(dims)
    return static


def _per_head(attributes: dict[str, Any], name: str, heads: int) -> torch.Tensor:
    """A scale field (1 value, or one per head) as `heads` float32 values, as the plugin uploads it."""
    values = attributes[name]
    if len(values) not in (1, heads):
        raise UsageError(
            f"MultiHeadAttention field {name!r} has {len(values)} values for {heads} heads.",
            "Give one scale per head (or one for all heads).",
        )
    return torch.tensor(values, dtype=F32).expand(heads).contiguous()


def _record(types: tuple[torch.dtype, ...], shapes: list[list[int]], attributes: dict[str, Any]) -> PluginLaunch:
    from edgeattn.kernels import attention
    from edgeattn.kernels.aot import record_launch
    from edgeattn.ops.multi_head_attention import triton as mha

    tensors = [torch.zeros(shape, dtype=dtype) for shape, dtype in zip(shapes, types, strict=False)]
    q, k, v = tensors[:3]
    bias, mask = _optional(attributes)
    optional = {"attn_bias": tensors[3] if bias else None, "key_mask": tensors[3 + bias] if mask else None}
    out = torch.zeros([*q.shape[:3], v.shape[3]], dtype=types[-1])
    scale = float(np.float32(attributes["scale"]))
    names = {t.data_ptr(): f"in{i}" for i, t in enumerate(tensors)} | {out.data_ptr(): "out0"}
    if q.dtype != I8:
        launch = record_launch(attention, "attention_fwd_kernel", mha.multi_head_attention, q, k, v, scale,
                               **optional, out=out)
    else:
        heads = q.shape[1]
        count = 4 if v.dtype == I8 else 2
        scales = [_per_head(attributes, name, heads) for name in INT8_SCALES[:count]]
        names.update({s.data_ptr(): f"const+{4 * heads * i}" for i, s in enumerate(scales)})
        launch = record_launch(attention, "attention_int8_kernel", mha.multi_head_attention_int8, q, k, v, scale,
                               *scales, **optional, out=out)
    return PluginLaunch(tuple(trt_type(t) for t in types), launch, bindings_by_pointer(launch, names))


def node_launches(attributes: dict[str, Any], shapes: list[list[int | str | None]]) -> list[PluginLaunch]:
    """Every launch the plugin may make for a node: one per accepted type combination."""
    bias, mask = _optional(attributes)
    if len(shapes) != 3 + bias + mask:
        raise UsageError(
            f"MultiHeadAttention node has {len(shapes)} inputs; has_attn_bias={int(bias)} and "
            f"has_key_mask={int(mask)} say {3 + bias + mask}.",
            "Re-export the plugin graph (the flags must match the wired optional inputs).",
        )
    static = _static_shapes(shapes)
    if static[0][1] != attributes["num_heads"]:
        raise UsageError(
            f"MultiHeadAttention node has num_heads={attributes['num_heads']} but q has {static[0][1]} heads.",
            "Re-export the plugin graph (num_heads is q.shape[1]).",
        )
    return [_record(types, static, attributes) for types in io_types(attributes)]


def case_attributes(case: ShapeCase) -> dict[str, Any]:
    """Plugin attributes of a spec.yaml case: its own, the node's heads and optional-input flags, and unit
    per-head INT8 scales (all launches covered)."""
    heads = case.shapes["q"][1]
    return {
        **case.attributes,
        "num_heads": heads,
        "has_attn_bias": int("attn_bias" in case.shapes),
        "has_key_mask": int("key_mask" in case.shapes),
        **{name: [1.0] * heads for name in (*INT8_SCALES, OUTPUT_SCALES)},
    }
