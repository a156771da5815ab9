"""LargeKernelAttention: reference vs VAN's convs, portable ONNX (ORT), plugin ONNX (ReferenceEvaluator)."""

from __future__ import annotations

import numpy as np
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
    assert_plugin_nodes,
    assert_portable_graph,
    check_portable,
    export_dynamic,
    export_op,
    random_inputs,
    reference,
    run_op,
    spec_cases,
)
from torch.export import Dim

from edgeattn.backbones.van import LKA
from edgeattn.errors import UsageError
from edgeattn.ops import get_op
from edgeattn.ops.large_kernel_attention.modules import EdgeLKA
from edgeattn.tolerances import OP_FP16_ATOL

OP = get_op("LargeKernelAttention")
SPEC_CASES = spec_cases(OP)


def lka_shapes(channels, height, width, batch=1, k0=5, k1=7):
    return {
        "x": [batch, channels, height, width],
        "w0": [channels, 1, k0, k0],
        "b0": [channels],
        "w1": [channels, 1, k1, k1],
        "b1": [channels],
    }


ODD_CASES = {
    "c8-7x7-batch2": (lka_shapes(8, 7, 7, batch=2), {"dilation": 3}),
    "c12-13x11": (lka_shapes(12, 13, 11), {"dilation": 3}),
    "c5-3x17": (lka_shapes(5, 3, 17), {"dilation": 3}),
    "c3-1x1": (lka_shapes(3, 1, 1), {"dilation": 3}),
    "c6-9x15-k3k5-dilation2": (lka_shapes(6, 9, 15, k0=3, k1=5), {"dilation": 2}),
}
ALL_CASES = {**SPEC_CASES, **ODD_CASES}


def lka_inputs(shapes, seed=42):
    """Seeded inputs with depthwise weights scaled by 1/K (VAN's He-init scale), so outputs are O(1)."""
    inputs = random_inputs(shapes, seed)
    for name in ("w0", "w1"):
        inputs[name] = inputs[name] / shapes[name][-1]
    return inputs


@pytest.mark.parametrize("hw", [(7, 7), (13, 11), (3, 17)], ids=lambda hw: f"{hw[0]}x{hw[1]}")
def test_reference_matches_van_lka_convs(hw):
    torch.manual_seed(42)
    lka = LKA(6).eval()
    x = torch.randn(2, 6, *hw)
    with torch.no_grad():
        expected = lka.conv_spatial(lka.conv0(x))
        actual = OP.reference(x, lka.conv0.weight, lka.conv0.bias, lka.conv_spatial.weight, lka.conv_spatial.bias)
    torch.testing.assert_close(actual, expected, atol=1e-6, rtol=1e-6)


def test_rewritten_lka_matches_original():
    torch.manual_seed(42)
    lka = LKA(6).eval()
    x = torch.randn(1, 6, 13, 11)
    with torch.no_grad():
        torch.testing.assert_close(EdgeLKA(lka)(x), lka(x), atol=1e-6, rtol=1e-6)


def test_reference_pads_the_intermediate_with_zeros():
    inputs = lka_inputs(lka_shapes(3, 7, 7))
    x, w0, b0, w1, b1 = inputs.values()
    extended = F.conv2d(x, w0, b0, padding=2 + 9, groups=3)  # 5x5 conv computed past the border
    wrong = F.conv2d(extended, w1, b1, dilation=3, groups=3)
    right = OP.reference(**inputs)
    assert right.shape == wrong.shape == x.shape
    assert (right - wrong).abs().max() > 1e-2


def test_reference_keeps_dtype_and_computes_in_fp32():
    half = {k: v.half() for k, v in lka_inputs(lka_shapes(6, 13, 11)).items()}
    out = OP.reference(**half)
    assert out.dtype == torch.float16
    expected = OP.reference(**{k: v.float() for k, v in half.items()})
    torch.testing.assert_close(out.float(), expected, atol=OP_FP16_ATOL, rtol=0)


@pytest.mark.parametrize(
    "name, shape",
    [("w0", (6, 1, 4, 4)), ("w1", (5, 1, 7, 7)), ("w0", (6, 2, 5, 5))],
    ids=["even-kernel", "channel-mismatch", "not-depthwise"],
)
def test_reference_rejects_bad_weights(name, shape):
    inputs = lka_inputs(lka_shapes(6, 7, 7))
    inputs[name] = torch.zeros(shape)
    with pytest.raises(UsageError, match="depthwise weight"):
        OP.reference(**inputs)


def test_torch_op_is_one_node_with_fake_shape():
    inputs = lka_inputs(lka_shapes(8, 13, 11))
    module = EdgeLKA(LKA(8)).eval()
    program = torch.export.export(module, (inputs["x"],))
    targets = [n.target for n in program.graph.nodes if n.op == "call_function"]
    assert targets.count(torch.ops.edgeattn.large_kernel_attention.default) == 1
    with torch.no_grad():
        torch.testing.assert_close(program.module()(inputs["x"]), module(inputs["x"]))


@pytest.fixture(scope="module")
def cases():
    weights = {cid: {k: v for k, v in lka_inputs(shapes).items() if k in ("w0", "w1")}
               for cid, (shapes, _) in ALL_CASES.items()}
    return CaseRun(OP, ALL_CASES, overrides=weights)


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("case_id", ALL_CASES)
def test_onnx_flavour_matches_reference(cases, case_id, flavour):
    cases.check(case_id, flavour)


def test_portable_graph_is_two_depthwise_convs_per_call(cases):
    model = cases.model("portable")
    assert_portable_graph(model)
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert len(convs) == 2 * len(ALL_CASES)
    for (first, second), (shapes, attributes) in zip(zip(convs[::2], convs[1::2]), ALL_CASES.values()):
        a0 = {a.name: onnx.helper.get_attribute_value(a) for a in first.attribute}
        a1 = {a.name: onnx.helper.get_attribute_value(a) for a in second.attribute}
        channels, k1, dilation = shapes["x"][1], shapes["w1"][-1], attributes["dilation"]
        assert a0["group"] == a1["group"] == channels
        assert a0["pads"] == [shapes["w0"][-1] // 2] * 4 and a0.get("dilations", [1, 1]) == [1, 1]
        assert a1["pads"] == [dilation * (k1 // 2)] * 4 and a1["dilations"] == [dilation, dilation]


def test_plugin_graph_has_one_node_per_call(cases):
    model = cases.model("plugins")
    assert_plugin_nodes(model, "LargeKernelAttention", len(ALL_CASES))
    for node, (_, attributes) in zip(model.graph.node, ALL_CASES.values()):
        values = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
        assert set(values) == {"dilation", "plugin_namespace", "plugin_version"}
        assert values["dilation"] == attributes["dilation"] and len(node.input) == 5


@pytest.mark.parametrize("flavour", FLAVOURS)
def test_export_is_byte_identical_twice(flavour):
    shapes, attributes = ODD_CASES["c12-13x11"]
    inputs = lka_inputs(shapes)
    first = export_op(OP, inputs, attributes, flavour).SerializeToString()
    assert first == export_op(OP, inputs, attributes, flavour).SerializeToString()


def test_fp16_portable_matches_reference():
    shapes, attributes = ODD_CASES["c12-13x11"]
    inputs = {k: v.half() for k, v in lka_inputs(shapes).items()}
    actual = run_op(export_op(OP, inputs, attributes, "portable"), "portable", inputs)
    assert actual.dtype == np.float16
    expected = reference(OP, inputs, attributes).astype(np.float32)
    np.testing.assert_allclose(actual.astype(np.float32), expected, atol=OP_FP16_ATOL, rtol=0)


@pytest.fixture(scope="module")
def dynamic_portable():
    dims = {"x": {0: Dim("batch", min=1, max=4), 2: Dim("h", min=1, max=64), 3: Dim("w", min=1, max=64)}}
    return export_dynamic(OP, lka_inputs(lka_shapes(5, 13, 11, batch=2)), {"dilation": 3}, dims)


@FUZZ
@given(
    batch=st.integers(1, 3),
    height=st.integers(1, 40),
    width=st.integers(1, 40),
    seed=st.integers(0, 2**16),
)
def test_fuzz_portable_decomposition(dynamic_portable, batch, height, width, seed):
    inputs = lka_inputs(lka_shapes(5, height, width, batch=batch), seed)
    check_portable(OP, dynamic_portable, inputs, {"dilation": 3})
