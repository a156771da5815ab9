"""SingleHeadAttention: reference math, portable ONNX (ORT), plugin ONNX (ReferenceEvaluator)."""

from __future__ import annotations

import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from ops_harness import (
    FLAVOURS,
    FUZZ,
    check_portable,
    export_dynamic,
    random_inputs,
    reference,
    spec_cases,
)
from torch.export import Dim

from edgeattn.ops import get_op

OP = get_op("SingleHeadAttention")
SPEC_CASES = spec_cases(OP)
ODD_CASES = {
    "7x7-tokens": ({"q": [2, 16, 49], "k": [2, 16, 49], "v": [2, 20, 49]}, {"scale": 0.25}),
    "13x11-tokens": ({"q": [1, 16, 143], "k": [1, 16, 143], "v": [1, 75, 143]}, {"scale": 0.25}),
    "197-tokens": ({"q": [1, 8, 197], "k": [1, 8, 197], "v": [1, 33, 197]}, {"scale": 0.3}),
    "1-token": ({"q": [3, 16, 1], "k": [3, 16, 1], "v": [3, 5, 1]}, {"scale": 0.25}),
}
ALL_CASES = {**SPEC_CASES, **ODD_CASES}


@pytest.mark.parametrize(("shapes", "attributes"), ALL_CASES.values(), ids=ALL_CASES.keys())
def test_reference_matches_sdpa(shapes, attributes):
    inputs = random_inputs(shapes)
    q, k, v = (inputs[n].transpose(-2, -1).unsqueeze(1) for n in ("q", "k", "v"))
    expected = F.scaled_dot_product_attention(q, k, v, scale=attributes["scale"])
    expected = expected.squeeze(1).transpose(-2, -1)
    torch.testing.assert_close(torch.from_numpy(reference(OP, inputs, attributes)), expected)


def test_reference_keeps_fp16_dtype_and_computes_in_fp32():
    inputs = random_inputs({"q": [1, 16, 49], "k": [1, 16, 49], "v": [1, 20, 49]})
    half = {n: t.half() for n, t in inputs.items()}
    out = OP.reference(**half, scale=0.25)
    assert out.dtype == torch.float16
    expected = OP.reference(**{n: t.float() for n, t in half.items()}, scale=0.25)
    torch.testing.assert_close(out.float(), expected, atol=1e-3, rtol=1e-3)


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_onnx_flavour_matches_reference_on_every_case(cases, flavour):
    """One export per flavour covers every case; the graph structure is checked on it too."""
    cases.check_flavour(flavour)


@pytest.fixture(scope="module")
def dynamic_portable():
    shapes = {"q": [2, 16, 49], "k": [2, 16, 49], "v": [2, 24, 49]}
    batch, tokens = Dim("batch", min=1, max=8), Dim("tokens", min=2, max=400)
    dims = {"q": {0: batch, 2: tokens}, "k": {0: batch, 2: tokens}, "v": {0: batch, 2: tokens}}
    return export_dynamic(OP, random_inputs(shapes), {"scale": 0.25}, dims)


@FUZZ
@given(batch=st.integers(1, 4), tokens=st.integers(2, 300), seed=st.integers(0, 2**16))
def test_fuzz_portable_decomposition(dynamic_portable, batch, tokens, seed):
    shapes = {"q": [batch, 16, tokens], "k": [batch, 16, tokens], "v": [batch, 24, tokens]}
    check_portable(OP, dynamic_portable, random_inputs(shapes, seed), {"scale": 0.25})
