"""The GPU enqueue checks of the MultiHeadAttention plugin (`edgeattn.ops.enqueue.EnqueueCase`).

Plugin inputs are q, k, v, then the case's attn_bias (typed like the output) and key_mask (int32, as
the plugin graph casts it). Float combinations compare with the fp32 reference; INT8 ones quantize
q, k (and v) per head with max-abs scales, set the INT8 fields as the calibrator writes them, and
compare with `int8_reference.py` on the same int8 values.
"""

from __future__ import annotations

from typing import Any

import numpy as np
import torch

from edgeattn.ops.spec import ShapeCase


def _optional_inputs(oc: Any, io_types: tuple[str, ...], out_type: str) -> tuple[list[Any], dict[str, Any]]:
    """(plugin inputs after q, k, v; keyword tensors of the Triton launch) for the case's bias and mask."""
    from edgeattn.ops.enqueue import torch_dtype

    extra, keywords = [], {}
    if oc.attrs.get("attn_bias") is not None:
        keywords["attn_bias"] = oc.attrs["attn_bias"].to(torch_dtype(out_type))
        extra.append(keywords["attn_bias"])
    if oc.attrs.get("key_mask") is not None:
        keywords["key_mask"] = oc.attrs["key_mask"].to(torch.int32)
        extra.append(keywords["key_mask"])
    return extra, keywords


def _tolerance(op: Any, io_types: tuple[str, ...], v_int8: bool, v: Any) -> tuple[float, float]:
    from edgeattn.ops.fake_quant import DEFAULT_PROBABILITY_SCALE

    if v_int8:  # one P code may round the other way on the GPU's exp: one code of |v| per output
        return 1e-2 + DEFAULT_PROBABILITY_SCALE * float(v.abs().amax()), 0.0
    tolerance = op.spec.tolerances["fp16" if "kHALF" in io_types else "fp32"]
    return tolerance.atol, tolerance.rtol


def enqueue_case(case: ShapeCase, io_types: tuple[str, ...], batch: int, device: str) -> Any:
    """The enqueue check of one accepted type combination at a spec case."""
    from edgeattn.ops import get_op
    from edgeattn.ops.cases import make_case
    from edgeattn.ops.fake_quant import DEFAULT_PROBABILITY_SCALE, quantize, symmetric_scale
    from edgeattn.ops.multi_head_attention import int8_reference
    from edgeattn.ops.multi_head_attention import triton as mha
    from edgeattn.ops.multi_head_attention.plugin.kernels import case_attributes
    from edgeattn.ops.enqueue import EnqueueCase, poisoned, torch_dtype

    op = get_op("MultiHeadAttention")
    int8, v_int8 = io_types[0] == "kINT8", io_types[2] == "kINT8"
    half = not int8 and io_types[0] == "kHALF"
    oc = make_case(op, case, dtype=torch.float16 if half else torch.float32, batch=batch, device=device)
    q, k, v = oc.inputs
    scale = float(np.float32(oc.attrs["scale"]))
    extra, keywords = _optional_inputs(oc, io_types, io_types[-1])
    mask = {"key_mask": keywords["key_mask"] != 0} if "key_mask" in keywords else {}
    bias = {"attn_bias": keywords["attn_bias"].float()} if "attn_bias" in keywords else {}
    attributes = dict(case_attributes(case))
    if int8:
        scales = {name: symmetric_scale(t, axis=1) for name, t in zip("qkv", (q, k, v), strict=True)}
        scales["p"] = torch.full_like(scales["q"], DEFAULT_PROBABILITY_SCALE)
        qkv = (quantize(q, scales["q"], axis=1), quantize(k, scales["k"], axis=1),
               quantize(v, scales["v"], axis=1) if v_int8 else v.to(torch_dtype(io_types[2])))
        used = [scales[name] for name in ("qkvp" if v_int8 else "qk")]
        expected = int8_reference.multi_head_attention_int8(*qkv, scale, *used, **bias, **mask).float()
        attributes.update({f"int8_{name}_scales": s.tolist() for name, s in scales.items()})
        attributes["int8_o_scales"] = [float(expected.abs().amax()) / 127.0] * q.shape[1]
        triton = lambda out: mha.multi_head_attention_int8(*qkv, scale, *used, **keywords, out=out)  # noqa: E731
        reference = "int8_reference.multi_head_attention_int8 (per-head max-abs scales)"
    else:
        qkv = tuple(t.to(torch_dtype(kind)) for t, kind in zip((q, k, v), io_types, strict=False))
        expected = op.reference(*(t.float() for t in qkv), scale, **bias, **mask).float()
        triton = lambda out: mha.multi_head_attention(*qkv, scale, **keywords, out=out)  # noqa: E731
        reference = f"fp32 reference on the {'fp16' if half else 'fp32'} inputs"
    atol, rtol = _tolerance(op, io_types, v_int8, v)
    launch_out = poisoned(expected.shape, io_types[-1], device)
    return EnqueueCase(
        op=op.name, case_id=case.id, batch=batch, io_types=tuple(io_types), attributes=attributes,
        inputs=(*qkv, *extra), outputs=(poisoned(expected.shape, io_types[-1], device),), expected=(expected,),
        atol=atol, rtol=rtol, reference=reference, triton=lambda: triton(launch_out),
    )
