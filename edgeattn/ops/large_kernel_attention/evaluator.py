"""LargeKernelAttention for `onnx.reference.ReferenceEvaluator`, from the fp32 reference."""

from __future__ import annotations

from onnx.reference.op_run import OpRun

from edgeattn.ops._evaluator_common import from_numpy, to_numpy_like
from edgeattn.ops.large_kernel_attention.reference import large_kernel_attention


class LargeKernelAttention(OpRun):
    """edgeattn::LargeKernelAttention evaluated with the reference math."""

    op_domain = "edgeattn"

    def _run(self, x, w0, b0, w1, b1, dilation=None, plugin_namespace=None, plugin_version=None):
        out = large_kernel_attention(*(from_numpy(t) for t in (x, w0, b0, w1, b1)), int(dilation))
        return (to_numpy_like(out, x),)
