"""The op registry: discovery, translation tables, evaluator ops, ops_used, specs and schemas."""

from __future__ import annotations

import importlib

import onnx
import pytest
import torch
from onnx.reference.op_run import OpRun
from ops_harness import MultiCaseCall, random_inputs

from edgeattn.errors import UsageError
from edgeattn.ops import all_ops, evaluator_ops, get_op, ops_used, plugin_graph_ops, translation_table
from onnx_helpers import export_flavour

MINE = ("SingleHeadAttention", "MultiHeadAttention", "ReLULinearAttention", "DFCAttention")


def test_catalogue_lists_the_attention_ops():
    names = [o.name for o in all_ops()]
    assert set(MINE) <= set(names)
    assert names == sorted(names)


@pytest.mark.parametrize("name", MINE)
def test_get_op_by_op_type_and_folder(name):
    op_def = get_op(name)
    assert get_op(op_def.folder) is op_def
    assert (op_def.domain, op_def.version) == ("edgeattn", 1)
    assert op_def.overload is getattr(torch.ops.edgeattn, op_def.folder).default


def test_unknown_op_and_flavour_are_usage_errors():
    with pytest.raises(UsageError, match="Unknown edgeattn op"):
        get_op("NoSuchAttention")
    with pytest.raises(UsageError, match="flavour"):
        translation_table("tensorrt")


def test_translation_tables_cover_every_op_with_distinct_functions():
    portable, plugins = translation_table("portable"), translation_table("plugins")
    assert set(portable) == set(plugins) == {o.overload for o in all_ops()}
    assert all(portable[key] is not plugins[key] for key in portable)


def test_deployable_plugins_table_decomposes_exactly_the_ops_without_a_plugin():
    deployable = translation_table("plugins", deployable=True)
    assert translation_table("portable", deployable=True) == translation_table("portable")
    for op in all_ops():
        assert deployable[op.overload] is (op.plugin if op.plugin_kernels is not None else op.portable), op.name
    split = plugin_graph_ops(o.name for o in all_ops())
    assert split["plugin"] == sorted(o.name for o in all_ops() if o.plugin_kernels is not None)
    assert sorted(split["plugin"] + split["portable"]) == sorted(o.name for o in all_ops())


def test_evaluator_ops_are_edgeattn_opruns():
    classes = evaluator_ops()
    assert {c.__name__ for c in classes} >= set(MINE)
    assert all(issubclass(c, OpRun) and c.op_domain == "edgeattn" for c in classes)


@pytest.mark.parametrize("name", MINE)
def test_spec_matches_schema_and_shape_rule(name):
    op_def = get_op(name)
    spec = op_def.spec
    onnx_module = importlib.import_module(f"edgeattn.ops.{op_def.folder}.onnx")
    assert (spec.op, spec.domain, spec.version) == (op_def.name, op_def.domain, op_def.version)
    schema_inputs = [p.name for p in op_def.schema.inputs]
    assert schema_inputs == spec.inputs + spec.optional_inputs
    declared = set(op_def.schema.attributes) - {"plugin_namespace", "plugin_version"}
    assert declared == set(spec.attributes)
    assert spec.cases and "fp32" in spec.tolerances
    for case in spec.cases:
        inputs = random_inputs(case.shapes)
        expected = op_def.reference(**inputs, **case.attributes).shape
        with torch._subclasses.FakeTensorMode() as mode:
            fakes = {n: mode.from_tensor(t) for n, t in inputs.items()}
            fake_shape = op_def.torch_op(**fakes, **case.attributes).shape
        positional = [case.shapes[n] for n in spec.inputs]
        assert list(expected) == list(fake_shape) == onnx_module.output_shape(*positional)


def test_ops_used_groups_nodes_by_attributes():
    op_def = get_op("SingleHeadAttention")
    shapes = {"q": [1, 16, 9], "k": [1, 16, 9], "v": [1, 4, 9]}
    cases = {"a": (shapes, {"scale": 0.25}), "b": (shapes, {"scale": 0.25}), "c": (shapes, {"scale": 0.5})}
    inputs = [t for _ in cases for t in random_inputs(shapes).values()]
    model = export_flavour(MultiCaseCall(op_def, cases), inputs, "plugins")
    used = ops_used(model)
    assert [(u["op_type"], u["attributes"]["scale"], u["count"]) for u in used] == [
        ("SingleHeadAttention", 0.25, 2),
        ("SingleHeadAttention", 0.5, 1),
    ]
    assert used[0]["attributes"]["plugin_namespace"] == "edgeattn"
    assert used[0]["version"] == 1
    assert ops_used(onnx.ModelProto()) == []
