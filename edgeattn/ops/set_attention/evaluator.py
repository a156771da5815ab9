"""SetAttention for `onnx.reference.ReferenceEvaluator`, from the fp32 reference."""

from __future__ import annotations

from onnx.reference.op_run import OpRun

from edgeattn.ops._evaluator_common import from_numpy, to_numpy_like
from edgeattn.ops.set_attention.reference import set_attention


class SetAttention(OpRun):
    """edgeattn::SetAttention evaluated with the reference math."""

    op_domain = "edgeattn"

    def _run(self, q, k, v, set_inds, set_valid, voxel_slot, num_heads=None, scale=None,
             plugin_namespace=None, plugin_version=None):
        out = set_attention(
            from_numpy(q), from_numpy(k), from_numpy(v),
            from_numpy(set_inds).long(), from_numpy(set_valid) != 0, from_numpy(voxel_slot).long(),
            int(num_heads), float(scale),
        )
        return (to_numpy_like(out, v),)
