"""build_precision end to end on the tiny network: files, per-head records, plugin scale attributes."""

from __future__ import annotations

import json

import onnx
import pytest
from calib_helpers import tiny_net

from edgeattn.backbones.spec import ModelSpec
from edgeattn.calibrate.pipeline import CalibrationConfig, build_precision
from edgeattn.errors import UsageError
from edgeattn.exporters.onnx import save_onnx

SPEC = ModelSpec(name="tiny", family="test", source="timm", timm_name="tiny", input_size=(3, 13, 13), stride=1,
                 fp32_sensitive=("softmax input",))


@pytest.fixture(scope="module")
def bundle(tiny_graphs, tmp_path_factory):
    folder = tmp_path_factory.mktemp("bundle")
    save_onnx(tiny_graphs[1]["portable"], folder / "model.onnx")
    save_onnx(tiny_graphs[1]["plugins"], folder / "model.plugins.onnx")
    return folder


def test_int8_bundle_files_and_reports(bundle):
    config = CalibrationConfig(data="samples", method="max", count=4, batch_size=2, eval_count=4)
    entries = build_precision(bundle, SPEC, tiny_net(), "int8", config)
    assert entries["files"] == ["model.int8.onnx", "model.plugins.int8.onnx", "calibration.json", "fidelity.json"]
    calibration = json.loads((bundle / "calibration.json").read_text())
    assert calibration["count"] == 4 and calibration["data"]["kind"] == "samples"
    assert calibration["headwise_max_rel_change"] <= 1e-5
    assert {r["module"] for r in calibration["heads"].values()} == {"LiteMLA", "SHSA"}
    assert all(len(r["sqnr_db_after"]["q"]) == r["heads"] for r in calibration["heads"].values())
    assert calibration["activations"] and all(a["scale"] > 0 for a in calibration["activations"].values())
    fidelity = json.loads((bundle / "fidelity.json").read_text())
    assert fidelity["held_out"] and fidelity["int8"]["cosine"] > 0.98
    plugins = onnx.load(bundle / "model.plugins.int8.onnx")
    attention = [n for n in plugins.graph.node if n.domain == "edgeattn"]
    heads = {n.op_type: {a.name: list(a.floats) for a in n.attribute if a.name.startswith("int8_")} for n in attention}
    assert len(heads["ReLULinearAttention"]["int8_q_scales"]) == 8
    assert len(heads["SingleHeadAttention"]["int8_p_scales"]) == 1
    assert all(v > 0 for scales in heads.values() for values in scales.values() for v in values)


def test_fp16_bundle_files(bundle):
    entries = build_precision(bundle, SPEC, tiny_net(), "fp16", CalibrationConfig(data="samples", eval_count=2))
    assert entries["files"] == ["model.fp16.onnx", "model.plugins.fp16.onnx", "fidelity.json"]
    assert entries["fidelity"]["cosine"] > 0.999
    assert entries["fp32_islands"]["portable"]["by_reason"]["softmax_input"] >= 1


def test_int8_without_data_is_a_usage_error(bundle):
    with pytest.raises(UsageError, match="calibration data"):
        build_precision(bundle, SPEC, tiny_net(), "int8", CalibrationConfig())


def test_int8_sensitivity_fallback_is_recorded_and_applied_to_both_flavours(bundle):
    config = CalibrationConfig(data="samples", method="max", count=4, batch_size=2, eval_count=4, min_cosine=0.99999)
    entries = build_precision(bundle, SPEC, tiny_net(), "int8", config)
    fallback = json.loads((bundle / "calibration.json").read_text())["fallback"]
    kept = fallback["kept_in_higher_precision"]
    assert entries["calibration"]["fallback_nodes"] == len(kept) > 0
    assert fallback["cosine_after_fallback"] >= 0.99999 > fallback["cosine_all_int8"]
    portable = onnx.load(bundle / "model.int8.onnx")
    dequantized = {n.output[0] for n in portable.graph.node if n.op_type == "DequantizeLinear"}
    for node in portable.graph.node:
        if node.name in kept:
            assert not dequantized.intersection(node.input), node.name
    plugins = onnx.load(bundle / "model.plugins.int8.onnx")
    producers = {out: n for n in plugins.graph.node for out in n.output}
    for node in plugins.graph.node:
        quantized_input = any(producers.get(i) is not None and producers[i].op_type == "DequantizeLinear"
                              for i in node.input)
        if node.name in fallback["plugin_graph_nodes_kept"]:
            assert not quantized_input, node.name


def test_int8_fallback_met_by_plain_int8_keeps_every_plugin_node_quantized(bundle):
    config = CalibrationConfig(data="samples", method="max", count=4, batch_size=2, eval_count=4, min_cosine=0.5)
    build_precision(bundle, SPEC, tiny_net(), "int8", config)
    fallback = json.loads((bundle / "calibration.json").read_text())["fallback"]
    assert fallback["kept_in_higher_precision"] == [] and fallback["plugin_graph_nodes_kept"] == []
