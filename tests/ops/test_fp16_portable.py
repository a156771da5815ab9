"""fp16 inputs: the portable decomposition computes in fp32 and returns fp16 (ORT), per op."""

from __future__ import annotations

import numpy as np
import pytest
from ops_harness import OpCall, random_inputs

from edgeattn.ops import get_op
from onnx_helpers import export_flavour, run_portable
from edgeattn.tolerances import OP_FP16_ATOL

OPS = ("SingleHeadAttention", "MultiHeadAttention", "ReLULinearAttention", "DFCAttention")


@pytest.mark.parametrize("name", OPS)
def test_fp16_portable_matches_fp32_reference(name):
    op_def = get_op(name)
    case = op_def.spec.test_cases[0]
    inputs = {n: t.half() if t.is_floating_point() else t for n, t in random_inputs(case.shapes).items()}
    model = export_flavour(OpCall(op_def, list(inputs), case.attributes), tuple(inputs.values()), "portable")
    actual = run_portable(model, [t.numpy() for t in inputs.values()])[0]
    widened = {n: t.float() if t.is_floating_point() else t for n, t in inputs.items()}
    expected = op_def.reference(**widened, **case.attributes).numpy()
    assert actual.dtype == np.float16
    np.testing.assert_allclose(actual.astype(np.float32), expected, atol=OP_FP16_ATOL, rtol=0)
    casts = [n for n in model.graph.node if n.op_type == "Cast"]
    assert casts, "fp16 inputs must be cast to fp32 inside the decomposition"
