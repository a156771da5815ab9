"""ReLULinearAttention: reference math, portable ONNX (ORT), plugin ONNX (ReferenceEvaluator)."""

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

OP = get_op("ReLULinearAttention")
SPEC_CASES = spec_cases(OP)
ODD_CASES = {
    "7x7-tokens": ({"q": [2, 3, 49, 16], "k": [2, 3, 49, 16], "v": [2, 3, 49, 16]}, {"eps": 1e-5}),
    "13x11-tokens": ({"q": [1, 4, 143, 8], "k": [1, 4, 143, 8], "v": [1, 4, 143, 12]}, {"eps": 1e-5}),
    "197-tokens": ({"q": [1, 2, 197, 32], "k": [1, 2, 197, 32], "v": [1, 2, 197, 32]}, {"eps": 1e-3}),
}
ALL_CASES = {**SPEC_CASES, **ODD_CASES}


def lite_mla_attention(q, k, v, eps):
    """timm/mit-han-lab LiteMLA formulation: v padded with a ones column, last column normalises."""
    q, k = torch.relu(q), torch.relu(k)
    v = F.pad(v, (0, 1), mode="constant", value=1.0)
    out = q @ (k.transpose(-1, -2) @ v)
    return out[..., :-1] / (out[..., -1:] + eps)


@pytest.mark.parametrize(("shapes", "attributes"), ALL_CASES.values(), ids=ALL_CASES.keys())
def test_reference_matches_lite_mla_formulation(shapes, attributes):
    inputs = random_inputs(shapes)
    expected = lite_mla_attention(inputs["q"], inputs["k"], inputs["v"], attributes["eps"])
    actual = torch.from_numpy(reference(OP, inputs, attributes))
    torch.testing.assert_close(actual, expected, atol=1e-5, rtol=1e-5)


def test_reference_runs_fp16_inputs_in_fp32():
    inputs = random_inputs({"q": [1, 2, 197, 16], "k": [1, 2, 197, 16], "v": [1, 2, 197, 16]})
    half = {n: t.half() * 30 for n, t in inputs.items()}
    out = OP.reference(**half, eps=1e-5)
    assert out.dtype == torch.float16
    expected = OP.reference(**{n: t.float() for n, t in half.items()}, eps=1e-5)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), expected, atol=1e-2, rtol=1e-3)


def test_zero_keys_give_zero_output_not_nan():
    inputs = random_inputs({"q": [1, 1, 9, 4], "k": [1, 1, 9, 4], "v": [1, 1, 9, 4]})
    out = OP.reference(inputs["q"], -inputs["k"].abs(), inputs["v"], eps=1e-5)
    assert torch.equal(out, torch.zeros_like(out))


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_onnx_flavour_matches_reference_on_every_case(cases, flavour):
    """One export per flavour covers every case; the graph structure is checked on it too."""
    cases.check_flavour(flavour)


@pytest.fixture(scope="module")
def dynamic_portable():
    shapes = {"q": [2, 3, 49, 8], "k": [2, 3, 49, 8], "v": [2, 3, 49, 8]}
    batch, tokens = Dim("batch", min=1, max=8), Dim("tokens", min=2, max=400)
    dims = {name: {0: batch, 2: tokens} for name in shapes}
    return export_dynamic(OP, random_inputs(shapes), {"eps": 1e-5}, dims)


@FUZZ
@given(batch=st.integers(1, 4), tokens=st.integers(2, 300), seed=st.integers(0, 2**16))
def test_fuzz_portable_decomposition(dynamic_portable, batch, tokens, seed):
    shapes = {name: [batch, 3, tokens, 8] for name in ("q", "k", "v")}
    check_portable(OP, dynamic_portable, random_inputs(shapes, seed), {"eps": 1e-5})
