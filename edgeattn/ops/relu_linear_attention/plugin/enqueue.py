"""The GPU enqueue checks of the ReLULinearAttention plugin (`edgeattn.ops.enqueue.EnqueueCase`).

Float combinations are the generic case (`edgeattn.ops.enqueue.float_case`). INT8 ones quantize
q, k (and v) per head with max-abs scales, set the INT8 fields as the calibrator writes them, and
compare with `int8_reference.py` on the same int8 values.
"""

from __future__ import annotations

from typing import Any

import torch

from edgeattn.ops.spec import ShapeCase


def enqueue_case(case: ShapeCase, io_types: tuple[str, ...], batch: int, device: str) -> Any:
    """The enqueue check of one accepted type combination at a spec case."""
    from edgeattn.ops import get_op
    from edgeattn.ops.enqueue import float_case

    op = get_op("ReLULinearAttention")
    if io_types[0] != "kINT8":
        return float_case(op, case, io_types, batch, device)
    return _int8_case(op, case, io_types, batch, device)


def _int8_case(op: Any, case: ShapeCase, io_types: tuple[str, ...], batch: int, device: str) -> Any:
    from edgeattn.ops.cases import make_case
    from edgeattn.ops.fake_quant import quantize, symmetric_scale
    from edgeattn.ops.relu_linear_attention import int8_reference
    from edgeattn.ops.relu_linear_attention import triton as rla
    from edgeattn.ops.relu_linear_attention.plugin.kernels import case_attributes
    from edgeattn.ops.enqueue import EnqueueCase, poisoned, torch_dtype

    oc = make_case(op, case, batch=batch, device=device)
    q, k, v = oc.inputs
    eps = float(oc.attrs["eps"])
    scales = {name: symmetric_scale(t, axis=1) for name, t in zip("qkv", (q, k, v), strict=True)}
    v_int8 = io_types[2] == "kINT8"
    inputs = (quantize(q, scales["q"], axis=1), quantize(k, scales["k"], axis=1),
              quantize(v, scales["v"], axis=1) if v_int8 else v.to(torch_dtype(io_types[2])))
    used = [scales[name] for name in ("qkv" if v_int8 else "qk")]
    expected = int8_reference.relu_linear_attention_int8(*inputs, eps, *used).float()
    attributes = {**case_attributes(case), **{f"int8_{name}_scales": s.tolist() for name, s in scales.items()},
                  "int8_o_scales": [float(expected.abs().amax()) / 127.0] * q.shape[1]}
    tolerance = op.spec.tolerances["fp16" if io_types[3] == "kHALF" else "fp32"]
    launch_out = poisoned(expected.shape, io_types[3], device)
    return EnqueueCase(
        op=op.name, case_id=case.id, batch=batch, io_types=tuple(io_types), attributes=attributes,
        inputs=inputs, outputs=(poisoned(expected.shape, io_types[3], device),), expected=(expected,),
        atol=tolerance.atol, rtol=tolerance.rtol,
        reference="int8_reference.relu_linear_attention_int8 (per-head max-abs scales)",
        triton=lambda: rla.relu_linear_attention_int8(*inputs, eps, *used, out=launch_out),
    )
