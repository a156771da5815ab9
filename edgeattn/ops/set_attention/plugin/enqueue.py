"""The GPU enqueue checks of the SetAttention plugin (`edgeattn.ops.enqueue.EnqueueCase`).

Plugin inputs are q, k, v (fp32 or fp16), set_inds and voxel_slot (int32 or int64, as the combination
says) and set_valid as int32 (the plugin graph casts the bool mask); compared with the fp32 reference.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from edgeattn.ops.spec import ShapeCase


def enqueue_case(case: ShapeCase, io_types: tuple[str, ...], batch: int, device: str) -> Any:
    """The enqueue check of one accepted type combination at a spec case."""
    from edgeattn.ops import get_op
    from edgeattn.ops.cases import make_case
    from edgeattn.ops.set_attention import triton as sa
    from edgeattn.ops.set_attention.plugin.kernels import case_attributes
    from edgeattn.ops.enqueue import EnqueueCase, poisoned, torch_dtype

    op = get_op("SetAttention")
    half = io_types[0] == "kHALF"
    oc = make_case(op, case, dtype=torch.float16 if half else torch.float32, batch=batch, device=device)
    q, k, v, set_inds, set_valid, voxel_slot = oc.inputs
    attributes = case_attributes(case)
    heads, scale = int(attributes["num_heads"]), float(np.float32(attributes["scale"]))
    inputs = (*(t.to(torch_dtype(kind)) for t, kind in zip((q, k, v), io_types, strict=False)),
              set_inds.to(torch_dtype(io_types[3])), set_valid.to(torch.int32), voxel_slot.to(torch_dtype(io_types[5])))
    expected = op.reference(*(t.float() for t in inputs[:3]), set_inds, set_valid, voxel_slot, heads, scale).float()
    tolerance = op.spec.tolerances["fp16" if half else "fp32"]
    launch_out = poisoned(expected.shape, io_types[6], device)
    return EnqueueCase(
        op=op.name, case_id=case.id, batch=batch, io_types=tuple(io_types), attributes=attributes,
        inputs=inputs, outputs=(poisoned(expected.shape, io_types[6], device),), expected=(expected,),
        atol=tolerance.atol, rtol=tolerance.rtol, reference=f"fp32 reference on the {'fp16' if half else 'fp32'} inputs",
        triton=lambda: sa.set_attention(*inputs, heads, scale, out=launch_out),
    )
