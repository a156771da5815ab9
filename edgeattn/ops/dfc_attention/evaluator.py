"""DFCAttention for `onnx.reference.ReferenceEvaluator`, from the fp32 reference."""

from __future__ import annotations

from onnx.reference.op_run import OpRun

from edgeattn.ops._evaluator_common import from_numpy, to_numpy_like
from edgeattn.ops.dfc_attention.reference import dfc_attention


class DFCAttention(OpRun):
    """edgeattn::DFCAttention evaluated with the reference math."""

    op_domain = "edgeattn"

    def _run(self, gate, w_h, b_h, w_v, b_v, features, plugin_namespace=None, plugin_version=None):
        out = dfc_attention(*(from_numpy(x) for x in (gate, w_h, b_h, w_v, b_v, features)))
        return (to_numpy_like(out, features),)
