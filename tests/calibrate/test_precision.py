"""The precision stage end to end on the tiny network: graphs, reports, per-head records, plugin scale
attributes, fidelity of both flavours against torch."""

from __future__ import annotations

import copy

import numpy as np
import pytest
import torch
from calib_helpers import tiny_net

from edgeattn.backbones.spec import ModelSpec
from edgeattn.calibrate.headwise import reparameterise
from edgeattn.calibrate.precision import build_precision
from edgeattn.calibrate.sets import CalibrationConfig, load_sets
from edgeattn.errors import UsageError
from edgeattn.exporters.onnx import export_onnx
from edgeattn.ops import translation_table
from edgeattn.ops.rewrite import rewrite_model

SPEC = ModelSpec(name="tiny", family="test", source="timm", timm_name="tiny", input_size=(3, 13, 13), stride=1,
                 fp32_sensitive=("softmax input",))
SMALL = dict(data="samples", method="max", count=4, batch_size=2, eval_count=4)


def _graphs(model):
    return {flavour: export_onnx(model, (torch.zeros(1, 3, 13, 13),), opset=18, input_names=["image"],
                                 output_names=["logits"], translation_table=translation_table(flavour))
            for flavour in ("portable", "plugins")}


def _reference(model):
    def run(batch: np.ndarray) -> np.ndarray:
        with torch.no_grad():
            return model(torch.from_numpy(batch)).numpy()
    return run


@pytest.fixture(scope="module")
def calibrated():
    """(sets, head-wise result, fp32 graphs of the reparameterised tiny net) as the pipeline's stages make them."""
    sets = load_sets(SPEC, CalibrationConfig(**SMALL), 13, 1, need_data=True)
    rewritten, _ = rewrite_model(copy.deepcopy(tiny_net()))
    headwise = reparameterise(rewritten, sets.calibration.batches)
    return sets, headwise, _graphs(headwise.model)


def _int8(calibrated, **options):
    sets, headwise, graphs = calibrated
    config = CalibrationConfig(**{**SMALL, **options})
    return build_precision("int8", graphs, SPEC, config, sets, _reference(headwise.model), headwise)


def test_int8_graphs_and_reports(calibrated):
    result = _int8(calibrated)
    assert sorted(result.graphs) == ["model.int8.onnx", "model.plugins.int8.onnx"]
    assert sorted(result.reports) == ["calibration.json", "fidelity.json"]
    calibration = result.reports["calibration.json"]
    assert calibration["count"] == 4 and calibration["data"]["kind"] == "samples"
    assert calibration["headwise_max_rel_change"] <= 1e-5
    assert {r["module"] for r in calibration["heads"].values()} == {"EdgeLiteMLA", "EdgeSHSA"}
    assert all(len(r["sqnr_db_after"]["q"]) == r["heads"] for r in calibration["heads"].values())
    assert calibration["activations"] and all(a["scale"] > 0 for a in calibration["activations"].values())
    fidelity = result.reports["fidelity.json"]
    assert fidelity["held_out"] and fidelity["int8"]["cosine"] > 0.98 and fidelity["reference"].startswith("fp32 torch")
    assert fidelity["plugins"]["count"] >= 2 and fidelity["plugins"]["cosine"] > 0.98
    plugins = result.graphs["model.plugins.int8.onnx"]
    attention = [n for n in plugins.graph.node if n.domain == "edgeattn"]
    heads = {n.op_type: {a.name: list(a.floats) for a in n.attribute if a.name.startswith("int8_")} for n in attention}
    assert len(heads["ReLULinearAttention"]["int8_q_scales"]) == 8
    assert len(heads["SingleHeadAttention"]["int8_p_scales"]) == 1
    assert all(v > 0 for scales in heads.values() for values in scales.values() for v in values)


def test_fp16_graphs_and_fidelity(calibrated):
    sets, headwise, graphs = calibrated
    config = CalibrationConfig(data="samples", eval_count=2)
    result = build_precision("fp16", graphs, SPEC, config, sets, _reference(headwise.model))
    assert sorted(result.graphs) == ["model.fp16.onnx", "model.plugins.fp16.onnx"]
    assert result.manifest["fidelity"]["cosine"] > 0.999
    assert result.reports["fidelity.json"]["plugins"]["cosine"] > 0.999
    assert result.manifest["fp32_islands"]["portable"]["by_reason"]["softmax_input"] >= 1


def test_int8_without_data_is_a_usage_error():
    with pytest.raises(UsageError, match="calibration data"):
        load_sets(SPEC, CalibrationConfig(), 13, 1, need_data=True)


def test_int8_sensitivity_fallback_is_recorded_and_applied_to_both_flavours(calibrated):
    result = _int8(calibrated, min_cosine=0.99999)
    fallback = result.reports["calibration.json"]["fallback"]
    kept = fallback["kept_in_higher_precision"]
    assert result.manifest["calibration"]["fallback_nodes"] == len(kept) > 0
    assert fallback["cosine_after_fallback"] >= 0.99999 > fallback["cosine_all_int8"]
    portable = result.graphs["model.int8.onnx"]
    dequantized = {n.output[0] for n in portable.graph.node if n.op_type == "DequantizeLinear"}
    for node in portable.graph.node:
        if node.name in kept:
            assert not dequantized.intersection(node.input), node.name
    plugins = result.graphs["model.plugins.int8.onnx"]
    producers = {out: n for n in plugins.graph.node for out in n.output}
    for node in plugins.graph.node:
        quantized_input = any(producers.get(i) is not None and producers[i].op_type == "DequantizeLinear"
                              for i in node.input)
        if node.name in fallback["plugin_graph_nodes_kept"]:
            assert not quantized_input, node.name


def test_int8_fallback_met_by_plain_int8_keeps_every_plugin_node_quantized(calibrated):
    fallback = _int8(calibrated, min_cosine=0.5).reports["calibration.json"]["fallback"]
    assert fallback["kept_in_higher_precision"] == [] and fallback["plugin_graph_nodes_kept"] == []
