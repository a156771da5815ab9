"""SuperTokenAttention for `onnx.reference.ReferenceEvaluator`, from the fp32 reference."""

from __future__ import annotations

from onnx.reference.op_run import OpRun

from edgeattn.ops._evaluator_common import from_numpy, to_numpy_like
from edgeattn.ops.super_token_attention.reference import super_token_attention


class SuperTokenAttention(OpRun):
    """edgeattn::SuperTokenAttention evaluated with the reference math."""

    op_domain = "edgeattn"

    def _run(self, x, qkv_weight, qkv_bias, proj_weight, proj_bias, stoken_height=None,
             stoken_width=None, n_iter=None, num_heads=None, assoc_scale=None, attn_scale=None,
             plugin_namespace=None, plugin_version=None):
        out = super_token_attention(
            *(from_numpy(t) for t in (x, qkv_weight, qkv_bias, proj_weight, proj_bias)),
            int(stoken_height), int(stoken_width), int(n_iter), int(num_heads),
            float(assoc_scale), float(attn_scale),
        )
        return (to_numpy_like(out, x),)
