"""The Triton kernel launches the SingleHeadAttention plugin makes, recorded from the Python launchers.

Mirrors `single_head_attention_plugin.cpp`: the accepted I/O types (`io_types`) and, per type
combination, the exact launch of `triton.py` at a node's shapes (recorded, nothing runs). The C++
plan must describe the same launch; the host tests compare the two.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from edgeattn.errors import UsageError
from edgeattn.kernels.aot import record_launch
from edgeattn.ops.spec import ShapeCase
from edgeattn.kernels.launches import PluginLaunch, bindings_by_pointer, trt_type

F32, F16, I8 = torch.float32, torch.float16, torch.int8
INT8_SCALES = ("int8_q_scales", "int8_k_scales", "int8_v_scales", "int8_p_scales")
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
    """Input shapes with a symbolic batch read as 1 (block sizes do not depend on it)."""
    static = []
    for name, shape in zip(("q", "k", "v"), shapes, strict=True):
        dims = [1 if axis == 0 and not isinstance(d, int) else d for axis, d in enumerate(shape)]
        if not all(isinstance(d, int) for d in dims):
            raise UsageError(
                f"SingleHeadAttention input {name} has shape {shape}; channels and tokens must be static.",
                "Export at a fixed resolution (only the batch may be dynamic).",
            )
        static.append(dims)
    return static


def _record(types: tuple[torch.dtype, ...], shapes: list[list[int]], attributes: dict[str, Any]) -> PluginLaunch:
    from edgeattn.kernels import attention
    from edgeattn.ops.single_head_attention import triton as sha

    q, k, v = (torch.zeros(shape, dtype=dtype) for shape, dtype in zip(shapes, types, strict=False))
    out = torch.zeros([shapes[2][0], shapes[2][1], shapes[0][2]], dtype=types[3])
    scale = float(np.float32(attributes["scale"]))
    names = {q.data_ptr(): "in0", k.data_ptr(): "in1", v.data_ptr(): "in2", out.data_ptr(): "out0"}
    if types[0] != I8:
        launch = record_launch(attention, "attention_fwd_kernel", sha.single_head_attention, q, k, v, scale, out=out)
    else:
        count = 4 if types[2] == I8 else 2
        scales = [torch.tensor(attributes[name], dtype=F32) for name in INT8_SCALES[:count]]
        names.update({s.data_ptr(): f"const+{4 * i}" for i, s in enumerate(scales)})
        launch = record_launch(
            attention, "attention_int8_kernel", sha.single_head_attention_int8, q, k, v, scale, *scales, out=out
        )
    return PluginLaunch(tuple(trt_type(t) for t in types), launch, bindings_by_pointer(launch, names))


def node_launches(attributes: dict[str, Any], shapes: list[list[int | str | None]]) -> list[PluginLaunch]:
    """Every launch the plugin may make for a node: one per accepted type combination."""
    static = _static_shapes(shapes)
    return [_record(types, static, attributes) for types in io_types(attributes)]


def case_attributes(case: ShapeCase) -> dict[str, Any]:
    """Plugin attributes of a spec.yaml case: its own plus unit INT8 scales (all launches covered)."""
    return {**case.attributes, **{name: [1.0] for name in (*INT8_SCALES, OUTPUT_SCALES)}}


def enqueue_case(case: ShapeCase, io_types: tuple[str, ...], batch: int, device: str) -> Any:
    """The GPU enqueue check of one accepted type combination (`edgeattn.ops.enqueue.EnqueueCase`).

    Float combinations: the generic case. INT8 ones: q, k (and v) quantized per tensor with max-abs
    scales, every INT8 scale field set as the calibrator writes them, compared with int8_reference.py.
    """
    from edgeattn.ops import get_op
    from edgeattn.ops.enqueue import float_case

    op = get_op("SingleHeadAttention")
    if io_types[0] != "kINT8":
        return float_case(op, case, io_types, batch, device)
    return _int8_case(op, case, io_types, batch, device)


def _int8_case(op: Any, case: ShapeCase, io_types: tuple[str, ...], batch: int, device: str) -> Any:
    from edgeattn.ops.cases import make_case
    from edgeattn.ops.fake_quant import DEFAULT_PROBABILITY_SCALE, quantize, symmetric_scale
    from edgeattn.ops.single_head_attention import int8_reference
    from edgeattn.ops.single_head_attention import triton as sha
    from edgeattn.ops.enqueue import EnqueueCase, poisoned, torch_dtype

    oc = make_case(op, case, batch=batch, device=device)
    q, k, v = oc.inputs
    scale = float(np.float32(oc.attrs["scale"]))
    scales = {name: symmetric_scale(t) for name, t in zip("qkv", (q, k, v), strict=True)}
    scales["p"] = torch.full_like(scales["q"], DEFAULT_PROBABILITY_SCALE)
    v_int8 = io_types[2] == "kINT8"
    inputs = (quantize(q, scales["q"]), quantize(k, scales["k"]),
              quantize(v, scales["v"]) if v_int8 else v.to(torch_dtype(io_types[2])))
    used = [scales[name] for name in ("qkvp" if v_int8 else "qk")]
    expected = int8_reference.single_head_attention_int8(*inputs, scale, *used)
    attributes = {**case.attributes, **{f"int8_{name}_scales": [float(s)] for name, s in scales.items()},
                  OUTPUT_SCALES: [float(expected.abs().amax()) / 127.0]}
    if v_int8:  # one P code may round the other way on the GPU's exp: one code of |v| per output
        atol, rtol = 1e-2 + DEFAULT_PROBABILITY_SCALE * float(v.abs().amax()), 0.0
    else:
        tolerance = op.spec.tolerances["fp16" if io_types[2] == "kHALF" else "fp32"]
        atol, rtol = tolerance.atol, tolerance.rtol
    launch_out = poisoned(expected.shape, io_types[3], device)
    return EnqueueCase(
        op=op.name, case_id=case.id, batch=batch, io_types=tuple(io_types), attributes=attributes,
        inputs=inputs, outputs=(poisoned(expected.shape, io_types[3], device),), expected=(expected,),
        atol=atol, rtol=rtol, reference="int8_reference.single_head_attention_int8 (per-tensor max-abs scales)",
        triton=lambda: sha.single_head_attention_int8(*inputs, scale, *used, out=launch_out),
    )
