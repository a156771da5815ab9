"""SuperTokenAttention for `onnx.reference.ReferenceEvaluator`, from the fp32 and INT8 references."""

from __future__ import annotations

import numpy as np
import torch
from onnx.reference.op_run import OpRun

from edgeattn.ops._evaluator_common import from_numpy, to_numpy_like
from edgeattn.ops.super_token_attention.int8_reference import super_token_attention_int8
from edgeattn.ops.super_token_attention.reference import super_token_attention


def _scale(values) -> torch.Tensor | None:
    return None if values is None else torch.as_tensor(np.asarray(values, dtype=np.float32))


class SuperTokenAttention(OpRun):
    """edgeattn::SuperTokenAttention evaluated with the reference math.

    The super-token q, k, v and P are computed inside the node, so an INT8 plugin node's per-head
    `int8_{q,k,v,p}_scales` (attached by calibration) select the INT8 reference: the node then computes
    what the INT8 kernels compute, not the fp32 function."""

    op_domain = "edgeattn"

    def _run(self, x, qkv_weight, qkv_bias, proj_weight, proj_bias, stoken_height=None,
             stoken_width=None, n_iter=None, num_heads=None, assoc_scale=None, attn_scale=None,
             plugin_namespace=None, plugin_version=None, int8_q_scales=None, int8_k_scales=None,
             int8_v_scales=None, int8_p_scales=None, int8_o_scales=None):
        tensors = [from_numpy(t) for t in (x, qkv_weight, qkv_bias, proj_weight, proj_bias)]
        attributes = (int(stoken_height), int(stoken_width), int(n_iter), int(num_heads), float(assoc_scale),
                      float(attn_scale))
        if int8_q_scales is None:
            out = super_token_attention(*tensors, *attributes)
        else:
            with_v = int8_v_scales is not None and int8_p_scales is not None
            out = super_token_attention_int8(
                *tensors, *attributes, _scale(int8_q_scales), _scale(int8_k_scales),
                _scale(int8_v_scales) if with_v else None, _scale(int8_p_scales) if with_v else None)
        return (to_numpy_like(out, x),)
