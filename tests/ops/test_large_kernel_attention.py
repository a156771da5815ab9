"""LargeKernelAttention: reference vs torch modules, portable ONNX (ORT), plugin ONNX (ReferenceEvaluator)."""

from __future__ import annotations

import numpy as np
import onnx
import pytest
import torch
from torch import nn

from edgeattn.errors import UsageError
from edgeattn.ops.flavours import export_flavour, run_plugins, run_portable
from edgeattn.ops.large_kernel_attention import OP_DEF
from edgeattn.ops.large_kernel_attention.reference import large_kernel_attention
from edgeattn.ops.large_kernel_attention.torch_op import large_kernel_attention_op
from edgeattn.tolerances import OP_FP16_ATOL, OP_FP32_ATOL, OP_FP32_RTOL

SEED = 42
ODD_CASES = {
    "c8-7x7": (2, 8, 7, 7),
    "c12-13x11": (1, 12, 13, 11),
    "c5-3x17": (1, 5, 3, 17),
}
SPEC_CASES = {case.id: case for case in OP_DEF.spec.cases}


def make_inputs(batch: int, channels: int, height: int, width: int, k0: int = 5, k1: int = 7):
    generator = torch.Generator().manual_seed(SEED)
    def randn(*shape):
        return torch.randn(*shape, generator=generator)
    return (
        randn(batch, channels, height, width),
        randn(channels, 1, k0, k0) / k0,
        randn(channels),
        randn(channels, 1, k1, k1) / k1,
        randn(channels),
    )


class LargeKernelAttentionCall(nn.Module):
    """The op with its weights as module inputs, so the exported graph takes all five as inputs."""

    def __init__(self, dilation: int = 3):
        super().__init__()
        self.dilation = dilation

    def forward(self, x, w0, b0, w1, b1):
        return large_kernel_attention_op(x, w0, b0, w1, b1, self.dilation)


def export(inputs, flavour: str, dilation: int = 3) -> onnx.ModelProto:
    return export_flavour(LargeKernelAttentionCall(dilation), inputs, flavour)


def assert_close(actual: np.ndarray, expected: torch.Tensor, atol: float = OP_FP32_ATOL) -> None:
    np.testing.assert_allclose(actual, expected.numpy(), atol=atol, rtol=OP_FP32_RTOL)


@pytest.mark.parametrize("shape", ODD_CASES.values(), ids=ODD_CASES.keys())
def test_reference_matches_torch_depthwise_convs(shape):
    x, w0, b0, w1, b1 = make_inputs(*shape)
    channels = shape[1]
    conv0 = nn.Conv2d(channels, channels, 5, padding=2, groups=channels)
    conv1 = nn.Conv2d(channels, channels, 7, padding=9, dilation=3, groups=channels)
    with torch.no_grad():
        for conv, w, b in ((conv0, w0, b0), (conv1, w1, b1)):
            conv.weight.copy_(w)
            conv.bias.copy_(b)
        expected = conv1(conv0(x))
    torch.testing.assert_close(large_kernel_attention(x, w0, b0, w1, b1), expected, atol=1e-6, rtol=1e-6)


def test_reference_pads_the_intermediate_with_zeros():
    x, w0, b0, w1, b1 = make_inputs(1, 3, 7, 7)
    extended = torch.nn.functional.conv2d(x, w0, b0, padding=2 + 9, groups=3)
    wrong = torch.nn.functional.conv2d(extended, w1, b1, dilation=3, groups=3)
    right = large_kernel_attention(x, w0, b0, w1, b1)
    assert right.shape == wrong.shape == x.shape
    assert (right - wrong).abs().max() > 1e-2


def test_reference_keeps_dtype_and_computes_in_fp32():
    inputs = make_inputs(1, 6, 13, 11)
    half = [t.half() for t in inputs]
    out = large_kernel_attention(*half)
    assert out.dtype == torch.float16
    expected = large_kernel_attention(*(t.float() for t in half))
    torch.testing.assert_close(out.float(), expected, atol=OP_FP16_ATOL, rtol=0)


@pytest.mark.parametrize(
    "bad",
    [
        pytest.param({"w0": (6, 1, 4, 4)}, id="even-kernel"),
        pytest.param({"w1": (5, 1, 7, 7)}, id="channel-mismatch"),
        pytest.param({"w0": (6, 2, 5, 5)}, id="not-depthwise"),
    ],
)
def test_reference_rejects_bad_weights(bad):
    x, w0, b0, w1, b1 = make_inputs(1, 6, 7, 7)
    w0 = torch.zeros(bad["w0"]) if "w0" in bad else w0
    w1 = torch.zeros(bad["w1"]) if "w1" in bad else w1
    with pytest.raises(UsageError, match="depthwise weight"):
        large_kernel_attention(x, w0, b0, w1, b1)


def test_torch_op_is_one_node_with_fake_shape():
    inputs = make_inputs(1, 8, 13, 11)
    program = torch.export.export(LargeKernelAttentionCall(), inputs)
    targets = [n.target for n in program.graph.nodes if n.op == "call_function"]
    assert targets == [torch.ops.edgeattn.large_kernel_attention.default]
    torch.testing.assert_close(program.module()(*inputs), large_kernel_attention(*inputs))


@pytest.mark.parametrize("shape", ODD_CASES.values(), ids=ODD_CASES.keys())
@pytest.mark.parametrize("flavour", ["portable", "plugins"])
def test_onnx_flavours_match_reference_odd_shapes(flavour, shape):
    inputs = make_inputs(*shape)
    model = export(inputs, flavour)
    run = run_portable if flavour == "portable" else run_plugins
    (out,) = run(model, [t.numpy() for t in inputs])
    assert_close(out, large_kernel_attention(*inputs))


@pytest.mark.parametrize("case_id", SPEC_CASES.keys())
def test_spec_shapes_portable_and_plugin_match_reference(case_id):
    case = SPEC_CASES[case_id]
    shapes = case.shapes
    batch, channels, height, width = shapes["x"]
    inputs = make_inputs(batch, channels, height, width, shapes["w0"][-1], shapes["w1"][-1])
    expected = large_kernel_attention(*inputs, case.attributes["dilation"])
    arrays = [t.numpy() for t in inputs]
    for flavour, run in (("portable", run_portable), ("plugins", run_plugins)):
        (out,) = run(export(inputs, flavour, case.attributes["dilation"]), arrays)
        assert_close(out, expected, atol=OP_DEF.spec.tolerances["fp32"].atol)


def test_portable_is_two_standard_depthwise_convs():
    model = export(make_inputs(1, 8, 7, 7), "portable")
    convs = [n for n in model.graph.node if n.op_type == "Conv"]
    assert all(n.domain in ("", "ai.onnx") for n in model.graph.node)
    attrs = [{a.name: onnx.helper.get_attribute_value(a) for a in n.attribute} for n in convs]
    assert [a["group"] for a in attrs] == [8, 8]
    assert [a.get("dilations", [1, 1]) for a in attrs] == [[1, 1], [3, 3]]
    assert [a["pads"] for a in attrs] == [[2, 2, 2, 2], [9, 9, 9, 9]]


def test_plugin_is_one_node_with_trt_attributes():
    model = export(make_inputs(1, 8, 7, 7), "plugins")
    (node,) = model.graph.node
    assert (node.domain, node.op_type) == ("edgeattn", "LargeKernelAttention")
    attrs = {a.name: a for a in node.attribute}
    assert set(attrs) == {"dilation", "plugin_namespace", "plugin_version"}
    assert attrs["dilation"].type == onnx.AttributeProto.INT and attrs["dilation"].i == 3
    assert attrs["plugin_namespace"].s == b"edgeattn" and attrs["plugin_version"].s == b"1"
    assert len(node.input) == 5


def test_other_dilation_reaches_both_flavours():
    inputs = make_inputs(1, 4, 13, 11)
    expected = large_kernel_attention(*inputs, 2)
    arrays = [t.numpy() for t in inputs]
    assert_close(run_portable(export(inputs, "portable", 2), arrays)[0], expected)
    assert_close(run_plugins(export(inputs, "plugins", 2), arrays)[0], expected)


def test_fp16_portable_matches_reference():
    inputs = [t.half() for t in make_inputs(1, 8, 13, 11)]
    (out,) = run_portable(export(inputs, "portable"), [t.numpy() for t in inputs])
    assert out.dtype == np.float16
    expected = large_kernel_attention(*inputs).float()
    np.testing.assert_allclose(out.astype(np.float32), expected.numpy(), atol=OP_FP16_ATOL, rtol=0)


@pytest.mark.parametrize("flavour", ["portable", "plugins"])
def test_export_is_byte_identical_twice(flavour):
    inputs = make_inputs(1, 8, 7, 7)
    assert export(inputs, flavour).SerializeToString() == export(inputs, flavour).SerializeToString()
