"""MultiHeadAttention for `onnx.reference.ReferenceEvaluator`, from the fp32 reference."""

from __future__ import annotations

from onnx.reference.op_run import OpRun

from edgeattn.ops._evaluator_common import from_numpy, to_numpy_like
from edgeattn.ops.multi_head_attention.reference import multi_head_attention


class MultiHeadAttention(OpRun):
    """edgeattn::MultiHeadAttention evaluated with the reference math."""

    op_domain = "edgeattn"
    # `int8_*_scales` (INT8 plugin graphs) describe the plugin kernel's integer maths; the inputs here are
    # already dequantized, so the node computes the fp32 reference.

    def _run(
        self,
        q,
        k,
        v,
        *optional,
        num_heads=None,
        scale=None,
        has_attn_bias=None,
        has_key_mask=None,
        plugin_namespace=None,
        plugin_version=None,
        **int8_scales,
    ):
        rest = list(optional)
        attn_bias = from_numpy(rest.pop(0)) if has_attn_bias else None
        key_mask = from_numpy(rest.pop(0)) != 0 if has_key_mask else None  # bool, or int32 in plugin graphs
        if num_heads != q.shape[1]:
            raise ValueError(f"num_heads={num_heads} but q has {q.shape[1]} heads")
        out = multi_head_attention(
            from_numpy(q), from_numpy(k), from_numpy(v), float(scale),
            attn_bias=attn_bias, key_mask=key_mask,
        )
        return (to_numpy_like(out, v),)
