"""ReLULinearAttention for `onnx.reference.ReferenceEvaluator`, from the fp32 reference."""

from __future__ import annotations

from onnx.reference.op_run import OpRun

from edgeattn.ops._evaluator_common import from_numpy, to_numpy_like
from edgeattn.ops.relu_linear_attention.reference import relu_linear_attention


class ReLULinearAttention(OpRun):
    """edgeattn::ReLULinearAttention evaluated with the reference math."""

    op_domain = "edgeattn"
    # `int8_*_scales` (INT8 plugin graphs) describe the plugin kernel's integer maths; the inputs here are
    # already dequantized, so the node computes the fp32 reference.

    def _run(self, q, k, v, eps=None, plugin_namespace=None, plugin_version=None,
             **int8_scales):
        out = relu_linear_attention(from_numpy(q), from_numpy(k), from_numpy(v), float(eps))
        return (to_numpy_like(out, v),)
