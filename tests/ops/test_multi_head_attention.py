"""MultiHeadAttention: reference math, portable ONNX (ORT), plugin ONNX (ReferenceEvaluator)."""

from __future__ import annotations

import onnx
import pytest
import torch
import torch.nn.functional as F
from hypothesis import given
from hypothesis import strategies as st
from ops_harness import (
    FLAVOURS,
    FUZZ,
    CaseRun,
    check_portable,
    export_dynamic,
    random_inputs,
    reference,
    spec_cases,
)
from torch.export import Dim

from edgeattn.ops import get_op

OP = get_op("MultiHeadAttention")
SPEC_CASES = spec_cases(OP)
ODD_CASES = {
    "7x7-tokens-bias-per-head": (
        {"q": [2, 3, 49, 16], "k": [2, 3, 49, 16], "v": [2, 3, 49, 24], "attn_bias": [3, 49, 49]},
        {"scale": 0.25},
    ),
    "13x11-tokens-bias-per-batch": (
        {"q": [2, 2, 143, 8], "k": [2, 2, 143, 8], "v": [2, 2, 143, 8], "attn_bias": [2, 2, 143, 143]},
        {"scale": 0.35},
    ),
    "197-queries-49-keys-masked": (
        {"q": [3, 4, 197, 8], "k": [3, 4, 49, 8], "v": [3, 4, 49, 12], "key_mask": [3, 49]},
        {"scale": 0.35},
    ),
    "63-tokens-bias-and-mask": (
        {"q": [2, 2, 63, 16], "k": [2, 2, 63, 16], "v": [2, 2, 63, 16], "attn_bias": [2, 63, 63],
         "key_mask": [2, 63]},
        {"scale": 0.25},
    ),
    "all-keys-masked": (
        {"q": [2, 2, 5, 8], "k": [2, 2, 7, 8], "v": [2, 2, 7, 8], "key_mask": [2, 7]},
        {"scale": 0.35},
    ),
}
NO_VALID_KEY = torch.tensor([[True] * 7, [False] * 7])
ALL_CASES = {**SPEC_CASES, **ODD_CASES}


def sdpa(inputs, scale):
    mask = None
    if "attn_bias" in inputs:
        mask = inputs["attn_bias"].expand(inputs["q"].shape[0], -1, -1, -1)
    if "key_mask" in inputs:
        keys = inputs["key_mask"][:, None, None, :]
        mask = keys if mask is None else mask.masked_fill(~keys, float("-inf"))
    return F.scaled_dot_product_attention(
        inputs["q"], inputs["k"], inputs["v"], attn_mask=mask, scale=scale
    )


@pytest.mark.parametrize("case_id", [c for c in ALL_CASES if c != "all-keys-masked"])
def test_reference_matches_sdpa(case_id):
    shapes, attributes = ALL_CASES[case_id]
    inputs = random_inputs(shapes)
    expected = sdpa(inputs, attributes["scale"])
    torch.testing.assert_close(torch.from_numpy(reference(OP, inputs, attributes)), expected)


def test_reference_gives_zeros_when_every_key_is_masked():
    shapes, attributes = ALL_CASES["all-keys-masked"]
    inputs = random_inputs(shapes) | {"key_mask": NO_VALID_KEY}
    out = OP.reference(**inputs, **attributes)
    assert torch.equal(out[1], torch.zeros_like(out[1]))
    expected = sdpa({n: t[:1] for n, t in inputs.items()}, attributes["scale"])
    torch.testing.assert_close(out[:1], expected)


def test_masked_keys_do_not_change_the_output():
    inputs = random_inputs({"q": [1, 2, 9, 8], "k": [1, 2, 11, 8], "v": [1, 2, 11, 8]})
    mask = torch.ones(1, 11, dtype=torch.bool)
    mask[0, 7:] = False
    out = OP.reference(**inputs, scale=0.3, key_mask=mask)
    changed = {n: t.clone() for n, t in inputs.items()}
    changed["k"][..., 7:, :] = 100.0
    changed["v"][..., 7:, :] = -100.0
    torch.testing.assert_close(OP.reference(**changed, scale=0.3, key_mask=mask), out)


@pytest.fixture(scope="module")
def cases():
    return CaseRun(OP, ALL_CASES, overrides={"all-keys-masked": {"key_mask": NO_VALID_KEY}})


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_onnx_flavour_matches_reference_on_every_case(cases, flavour):
    """One export per flavour covers every case; the graph structure is checked on it too."""
    cases.check_flavour(flavour)
    if flavour == "plugins":
        check_plugin_attributes(cases.model("plugins"))


def check_plugin_attributes(model):
    nodes = [node for node in model.graph.node if node.op_type == "MultiHeadAttention"]
    producers = {out: node for node in model.graph.node for out in node.output}
    assert len(nodes) == len(ALL_CASES)
    for node, (shapes, attributes) in zip(nodes, ALL_CASES.values(), strict=True):
        values = {a.name: a for a in node.attribute}
        if "key_mask" in shapes:  # TensorRT plugins take no bool tensors: the mask arrives as int32
            cast = producers[node.input[-1]]
            assert cast.op_type == "Cast" and cast.attribute[0].i == onnx.TensorProto.INT32
        assert values["num_heads"].i == shapes["q"][1]
        assert values["scale"].f == pytest.approx(attributes["scale"])
        assert values["has_attn_bias"].i == int("attn_bias" in shapes)
        assert values["has_key_mask"].i == int("key_mask" in shapes)
        assert len(node.input) == len(shapes)


@pytest.fixture(scope="module")
def dynamic_portable():
    shapes = {"q": [2, 2, 49, 8], "k": [2, 2, 31, 8], "v": [2, 2, 31, 8], "key_mask": [2, 31]}
    batch = Dim("batch", min=1, max=8)
    queries, keys = Dim("queries", min=2, max=400), Dim("keys", min=2, max=400)
    dims = {
        "q": {0: batch, 2: queries},
        "k": {0: batch, 2: keys},
        "v": {0: batch, 2: keys},
        "key_mask": {0: batch, 1: keys},
    }
    return export_dynamic(OP, random_inputs(shapes), {"scale": 0.3}, dims)


@FUZZ
@given(
    batch=st.integers(1, 4),
    queries=st.integers(2, 260),
    keys=st.integers(2, 260),
    seed=st.integers(0, 2**16),
)
def test_fuzz_portable_decomposition(dynamic_portable, batch, queries, keys, seed):
    shapes = {
        "q": [batch, 2, queries, 8],
        "k": [batch, 2, keys, 8],
        "v": [batch, 2, keys, 8],
        "key_mask": [batch, keys],
    }
    check_portable(OP, dynamic_portable, random_inputs(shapes, seed), {"scale": 0.3})
