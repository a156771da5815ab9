"""The fixture of real plugin nodes (data/plugin_nodes.json) against the graphs it was made from."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"
sys.path.insert(0, str(DATA))

from make_plugin_nodes import exports, graph_records  # noqa: E402


def test_fixture_covers_fp32_fp16_and_int8_plugin_graphs(fixture_nodes):
    from edgeattn.ops import all_ops

    head_scaled = {op.name for op in all_ops() if op.int8 is not None and op.int8.head_scales}
    graphs = {item.graph.split("/")[1] for item in fixture_nodes}
    assert graphs == {"model.plugins.onnx", "model.plugins.fp16.onnx", "model.plugins.int8.onnx"}
    int8 = [item.node for item in fixture_nodes if item.graph.endswith("int8.onnx")]
    assert any(node.op_type in head_scaled for node in int8)
    assert all("int8_q_scales" in node.attributes for node in int8 if node.op_type in head_scaled)
    assert {node.input_types[0] for item in fixture_nodes for node in [item.node]} == {"kFLOAT", "kHALF"}


def test_fixture_holds_every_graph_of_every_model_using_a_plugin_op():
    """Regenerate the fixture (make_plugin_nodes.py) when an op gains a plugin or a model is added."""
    recorded = json.loads((DATA / "plugin_nodes.json").read_text())["graphs"]
    expected = [(e.model, e.resolution, graph) for e in exports() for graph in e.graphs]
    assert [(g["model"], g["resolution"], g["graph"]) for g in recorded] == expected
    assert all(g["nodes"] for g in recorded)


def test_symbolic_dims_have_a_tensorrt_profile(fixture_nodes):
    dynamic = [item for item in fixture_nodes
               if any(isinstance(d, str) for shape in item.node.input_shapes for d in shape)]
    assert dynamic, "no fixture node has dynamic shapes"
    for item in dynamic:
        symbols = {d for shape in item.node.input_shapes for d in shape if isinstance(d, str)}
        assert symbols <= set(item.dims), item.id
        assert all(item.dims[s]["min"] <= item.dims[s]["opt"] <= item.dims[s]["max"] for s in symbols)
        assert item.at("min").input_shapes != item.at("max").input_shapes


@pytest.mark.slow
def test_fixture_matches_a_fresh_fp32_export(tmp_path):
    """Drift check: re-export the first image model's fp32 plugin graph and compare its nodes with the fixture."""
    import subprocess

    from make_plugin_nodes import export_command

    export = next(e for e in exports() if e.resolution is not None)
    subprocess.run(export_command(export, "fp32", tmp_path / "bundle"), check=True, capture_output=True)
    fresh = graph_records(tmp_path / "bundle", export, ("model.plugins.onnx",))[0]
    recorded = next(g for g in json.loads((DATA / "plugin_nodes.json").read_text())["graphs"]
                    if (g["model"], g["graph"]) == (export.model, "model.plugins.onnx"))
    assert json.loads(json.dumps(fresh)) == recorded
