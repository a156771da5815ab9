"""The fixture of real plugin nodes (data/plugin_nodes.json) against the graphs it was made from."""

from __future__ import annotations

import json
import sys
from pathlib import Path

import pytest

DATA = Path(__file__).parent / "data"


def test_fixture_covers_fp32_fp16_and_int8_plugin_graphs(fixture_nodes):
    graphs = {item.graph.split("/")[1] for item in fixture_nodes}
    assert graphs == {"model.plugins.onnx", "model.plugins.fp16.onnx", "model.plugins.int8.onnx"}
    int8 = [item.node for item in fixture_nodes if item.graph.endswith("int8.onnx")]
    assert int8 and all("int8_q_scales" in node.attributes for node in int8)
    assert {node.input_types[0] for item in fixture_nodes for node in [item.node]} == {"kFLOAT", "kHALF"}


@pytest.mark.slow
def test_fixture_matches_a_fresh_fp32_export(tmp_path):
    """Drift check: re-export the fp32 plugin graph and compare its nodes with the fixture."""
    import subprocess

    sys.path.insert(0, str(DATA))
    from make_plugin_nodes import export_command, exports, graph_records

    first = exports()[0]
    subprocess.run(export_command(first, "fp32", tmp_path / "bundle"), check=True, capture_output=True)
    fresh = graph_records(tmp_path / "bundle", first, ("model.plugins.onnx",))[0]
    recorded = next(g for g in json.loads((DATA / "plugin_nodes.json").read_text())["graphs"]
                    if g["graph"] == "model.plugins.onnx" and g["model"] == first.model)
    assert json.loads(json.dumps(fresh)) == recorded
