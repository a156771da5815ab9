"""exporters.trt_lint: TensorRT ONNX-parser readiness without TensorRT."""

from __future__ import annotations

import json

import numpy as np
import onnx
import pytest
import torch
from onnx import TensorProto, helper

from edgeattn.errors import UsageError
from edgeattn.exporters.trt_lint import (
    LintReport,
    lint,
    load_support,
    parse_version,
    unsupported_example_model,
)
from edgeattn.ops import all_ops
from onnx_helpers import export_flavour

VERSIONS = ["10.3", "10.16", "11"]


def one_node_model(node: onnx.NodeProto, initializers=(), opset: int = 18, extra_opsets=()):
    inputs = [
        helper.make_tensor_value_info(name, TensorProto.FLOAT, [1, 4, 6, 6])
        for name in node.input
        if name and name not in {i.name for i in initializers}
    ]
    outputs = [helper.make_tensor_value_info(name, TensorProto.FLOAT, None) for name in node.output]
    graph = helper.make_graph([node], "one_node", inputs, outputs, initializer=list(initializers))
    opsets = [helper.make_opsetid("", opset), *extra_opsets]
    return helper.make_model(graph, opset_imports=opsets)


def errors(report: LintReport) -> list[tuple[str, str]]:
    return [(f.node, f.reason) for f in report.findings if f.severity == "error"]


def edgeattn_node(**attributes) -> onnx.ModelProto:
    node = helper.make_node(
        "SingleHeadAttention", ["q", "k", "v"], ["out"], name="sha", domain="edgeattn", **attributes
    )
    return one_node_model(node, extra_opsets=[helper.make_opsetid("edgeattn", 1)])


def test_deliberately_unsupported_nodes_are_flagged():
    report = lint(unsupported_example_model(), VERSIONS)
    assert not report.ok
    flagged = {f.node: f for f in report.findings if f.severity == "error"}
    assert set(flagged) == {"unique", "resize_cubic"}
    assert flagged["unique"].trt_versions == VERSIONS
    assert "cubic" in flagged["resize_cubic"].reason


def test_report_json_is_deterministic_and_complete():
    first = lint(unsupported_example_model(), VERSIONS).to_json()
    assert first == lint(unsupported_example_model(), VERSIONS).to_json()
    data = json.loads(first)
    assert data["ok"] is False
    assert data["trt_versions"] == VERSIONS
    assert {"node", "op", "severity", "reason", "trt_versions"} <= set(data["findings"][0])


def test_unconfirmed_releases_are_reported_as_info():
    report = lint(edgeattn_node(scale=0.25, plugin_namespace="edgeattn", plugin_version="1"), VERSIONS)
    assert report.ok
    infos = [f for f in report.findings if f.severity == "info"]
    assert {v for f in infos for v in f.trt_versions} == set(VERSIONS)


def test_well_formed_edgeattn_plugin_node_passes():
    report = lint(edgeattn_node(scale=0.25, plugin_namespace="edgeattn", plugin_version="1"), VERSIONS)
    assert errors(report) == []
    assert [f for f in report.findings if f.severity == "warning"] == []


def test_unknown_edgeattn_op_is_an_error():
    node = helper.make_node("NoSuchOp", ["x"], ["y"], name="n", domain="edgeattn",
                            plugin_namespace="edgeattn", plugin_version="1")
    report = lint(one_node_model(node, extra_opsets=[helper.make_opsetid("edgeattn", 1)]), ["10.3"])
    assert any("without a spec" in reason for _, reason in errors(report))


def test_other_custom_domain_is_an_error():
    node = helper.make_node("FusedThing", ["x"], ["y"], name="n", domain="com.microsoft")
    report = lint(one_node_model(node, extra_opsets=[helper.make_opsetid("com.microsoft", 1)]), ["11"])
    assert any("custom domain" in reason for _, reason in errors(report))


@pytest.mark.parametrize(
    ("attribute", "message"),
    [
        (helper.make_attribute("table", helper.make_tensor("t", TensorProto.INT64, [2], [1, 2])),
         "INT64 is rejected"),
        (helper.make_attribute("flags", helper.make_tensor("t", TensorProto.BOOL, [1], [True])),
         "BOOL is rejected"),
        (helper.make_attribute("big", 2**40), "does not fit in int32"),
    ],
    ids=["int64-tensor", "bool-tensor", "int-beyond-int32"],
)
def test_plugin_attributes_the_parser_rejects_are_errors(attribute, message):
    model = edgeattn_node(scale=0.25, plugin_namespace="edgeattn", plugin_version="1")
    model.graph.node[0].attribute.append(attribute)
    report = lint(model, ["10.3"])
    assert any(message in reason for _, reason in errors(report))


def test_parser_passed_but_non_edgeattn_attribute_types_are_warnings():
    model = edgeattn_node(scale=0.25, plugin_namespace="edgeattn", plugin_version="1")
    model.graph.node[0].attribute.append(helper.make_attribute("sizes", [1, 2, 3]))
    report = lint(model, ["10.3"])
    assert report.ok
    reasons = [f.reason for f in report.findings if f.severity == "warning"]
    assert any("INTS" in r for r in reasons)
    assert any("not a field of the plugin" in r for r in reasons)


def test_per_head_float_list_attribute_is_accepted_type():
    model = edgeattn_node(scale=0.25, plugin_namespace="edgeattn", plugin_version="1")
    model.graph.node[0].attribute.append(helper.make_attribute("q_scales", [0.1, 0.2]))
    report = lint(model, ["10.3"])
    assert not any("FLOATS" in f.reason for f in report.findings)


def test_missing_plugin_namespace_depends_on_release():
    report = lint(edgeattn_node(scale=0.25, plugin_version="1"), ["10.3", "10.16"])
    namespace = [f for f in report.findings if "plugin_namespace" in f.reason]
    by_severity = {f.severity: f.trt_versions for f in namespace}
    assert by_severity == {"error": ["10.3"], "warning": ["10.16"]}


def test_missing_required_attribute_is_an_error():
    report = lint(edgeattn_node(plugin_namespace="edgeattn", plugin_version="1"), ["11"])
    assert any("'scale' is missing" in reason for _, reason in errors(report))


def test_slice_axes_must_be_initializer_before_10_3_only():
    node = helper.make_node("Slice", ["x", "starts", "ends", "axes"], ["y"], name="slice")
    starts = helper.make_tensor("starts", TensorProto.INT64, [1], [1])
    ends = helper.make_tensor("ends", TensorProto.INT64, [1], [3])
    model = one_node_model(node, [starts, ends])
    model.graph.input[-1].CopyFrom(helper.make_tensor_value_info("axes", TensorProto.INT64, [1]))
    assert any("'axes'" in reason for _, reason in errors(lint(model, ["10.1"])))
    assert errors(lint(model, ["10.3"])) == []


def test_reduce_axes_from_initializer_pass():
    node = helper.make_node("ReduceSum", ["x", "axes"], ["y"], name="sum", keepdims=1)
    axes = helper.make_tensor("axes", TensorProto.INT64, [1], [-1])
    assert lint(one_node_model(node, [axes]), VERSIONS).ok


def test_opset_outside_parser_range_is_an_error():
    node = helper.make_node("Relu", ["x"], ["y"], name="relu")
    report = lint(one_node_model(node, opset=23), ["10.3", "11"])
    opset_errors = [f for f in report.findings if "opset" in f.reason and f.severity == "error"]
    assert [f.trt_versions for f in opset_errors] == [["10.3"]]


def test_version_parsing_and_unknown_versions():
    assert parse_version("10.16") == (10, 16)
    assert parse_version("11") == (11,)
    with pytest.raises(UsageError):
        parse_version("ten")
    with pytest.raises(UsageError):
        lint(unsupported_example_model(), ["8.6"])
    with pytest.raises(UsageError):
        lint(unsupported_example_model(), [])


def test_support_data_names_its_sources():
    support = load_support()
    for document in support["documents"].values():
        assert document["source"].startswith("https://github.com/onnx/onnx-tensorrt/")
        assert not set(document["supported"]) & set(document["unsupported"])
    for rule in support["constant_inputs"] + support["attribute_rules"]:
        assert rule["source"]


@pytest.mark.parametrize("op_def", all_ops(), ids=lambda o: o.name)
def test_every_catalogue_op_has_a_lintable_plugin_schema(op_def):
    attributes = {name: a for name, a in op_def.schema.attributes.items()}
    assert attributes["plugin_namespace"].type == onnx.defs.OpSchema.AttrType.STRING
    allowed = {
        onnx.defs.OpSchema.AttrType.INT,
        onnx.defs.OpSchema.AttrType.FLOAT,
        onnx.defs.OpSchema.AttrType.STRING,
        onnx.defs.OpSchema.AttrType.FLOATS,
    }
    assert {a.type for a in attributes.values()} <= allowed


def test_plugin_export_of_an_op_passes_lint():
    from edgeattn.ops.single_head_attention.torch_op import single_head_attention_op

    class Call(torch.nn.Module):
        def forward(self, q, k, v):
            return single_head_attention_op(q, k, v, 0.25)

    args = (torch.randn(1, 16, 49), torch.randn(1, 16, 49), torch.randn(1, 8, 49))
    report = lint(export_flavour(Call(), args, "plugins"), VERSIONS)
    assert report.ok
    assert [f for f in report.findings if f.severity == "warning"] == []


def _quantize_node(scale, zero_point, data="x"):
    initializers = [onnx.numpy_helper.from_array(scale, "scale"), onnx.numpy_helper.from_array(zero_point, "zp")]
    node = helper.make_node("QuantizeLinear", [data, "scale", "zp"], ["q"], name="q", axis=1)
    return one_node_model(node, initializers)


@pytest.mark.parametrize(
    ("scale", "zero_point", "expected"),
    [
        (np.float32(0.1), np.int8(0), None),
        (np.float32(0.1), np.uint8(128), "zero point of type UINT8"),
        (np.float32(0.1), np.int8(3), "nonzero zero point"),
        (np.full(4, 0.1, np.float32), np.zeros(4, np.int8), "per-axis scales on an activation"),
    ],
    ids=["symmetric-int8", "ort-u8", "asymmetric", "per-axis-activation"],
)
def test_quantize_linear_rules(scale, zero_point, expected):
    found = errors(lint(_quantize_node(scale, zero_point), VERSIONS))
    if expected is None:
        assert found == []
    else:
        assert found and all(node == "q" for node, _ in found) and any(expected in r for _, r in found)


def test_per_axis_weights_are_fine():
    weights = onnx.numpy_helper.from_array(np.ones((4, 4, 1, 1), np.float32), "w")
    model = _quantize_node(np.full(4, 0.1, np.float32), np.zeros(4, np.int8), data="w")
    model.graph.initializer.append(weights)
    del model.graph.input[:]
    assert errors(lint(model, VERSIONS)) == []
