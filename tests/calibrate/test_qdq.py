"""Q/DQ placement checked structurally (TensorRT and ORT x86 styles), numerics, and the CPU latency gate."""

from __future__ import annotations

import numpy as np
import onnx
import onnxruntime as ort
import pytest
from onnx import numpy_helper

from edgeattn.calibrate.cpu_gate import select_regions
from edgeattn.calibrate.fidelity import evaluate
from edgeattn.calibrate.islands import ensure_node_names, find_islands, rules_from_hints
from edgeattn.calibrate.qdq import (
    WEIGHTED_OPS,
    QDQConfig,
    activation_tensors,
    collect_ranges,
    insert_qdq,
    quantized_inputs,
)
from calib_helpers import tiny_net

from edgeattn.ops import all_ops
from edgeattn.ops.rewrite import ops_in

ISLAND_OPS = {o.name for o in all_ops() if o.fp32_island_ops} & set(ops_in(tiny_net()))
"""The tiny network's ops whose portable decomposition keeps fp32 islands."""

RULES = rules_from_hints([])


def _quantize(graph, inputs, style, method="max"):
    graph = onnx.ModelProto.FromString(graph.SerializeToString())
    ensure_node_names(graph)
    islands = find_islands(graph, RULES)
    config = QDQConfig(style=style, method=method, skip_nodes=frozenset(islands))
    observers = collect_ranges(graph, inputs, activation_tensors(graph, config), config)
    return graph, islands, insert_qdq(graph, observers, config), observers, config


def _producers(model):
    return {out: node for node in model.graph.node for out in node.output}


def _init(model, name):
    return next(numpy_helper.to_array(i) for i in model.graph.initializer if i.name == name)


@pytest.fixture(scope="module")
def trt(tiny_graphs, tiny_inputs):
    return _quantize(tiny_graphs[1]["portable"], tiny_inputs, "tensorrt")


def test_tensorrt_activations_symmetric_per_tensor_int8(trt):
    _, _, result, _, _ = trt
    quantizers = [n for n in result.model.graph.node if n.op_type == "QuantizeLinear"]
    assert quantizers
    for node in quantizers:
        assert _init(result.model, node.input[1]).shape == ()
        zero_point = _init(result.model, node.input[2])
        assert zero_point.dtype == np.int8 and zero_point == 0


def test_tensorrt_weights_per_channel_int8(trt):
    _, _, result, _, _ = trt
    producers = _producers(result.model)
    convs = [n for n in result.model.graph.node if n.op_type == "Conv"]
    assert convs
    for conv in convs:
        dq = producers[conv.input[1]]
        assert dq.op_type == "DequantizeLinear"
        weights, scales = _init(result.model, dq.input[0]), _init(result.model, dq.input[1])
        assert weights.dtype == np.int8 and scales.shape == (weights.shape[0],)
        assert np.abs(weights).max() == 127


def test_tensorrt_qdq_on_weighted_ops_and_residual_adds_none_in_islands(trt):
    _, islands, result, _, _ = trt
    producers = _producers(result.model)
    from_dq = lambda name: name in producers and producers[name].op_type == "DequantizeLinear"
    by_name = {n.name: n for n in result.model.graph.node}
    assert {"normalisation", "softmax", *ISLAND_OPS} <= set(islands.values())
    for name in islands:
        assert not any(from_dq(i) for i in by_name[name].input), by_name[name].op_type
    for conv in (n for n in result.model.graph.node if n.op_type == "Conv"):
        assert from_dq(conv.input[0])
    residual = [n for n in result.model.graph.node if n.op_type == "Add" and n.name not in islands
                and all(i in producers for i in n.input[:2])]
    assert residual
    for add in residual:
        fused = [i for i in add.input[:2] if _written_by_weighted_op(producers, i)]
        quantized = [i for i in add.input[:2] if from_dq(i)]
        assert len(quantized) == (1 if fused else 2), (add.name, fused, quantized)
        assert not fused or fused[0] not in quantized, "the input TensorRT fuses into its producer has no Q/DQ"


def _written_by_weighted_op(producers, name):
    node = producers.get(name)
    if node is not None and node.op_type == "Add":
        node = next((producers[i] for i in node.input if i in producers and producers[i].op_type in WEIGHTED_OPS), None)
    return node is not None and node.op_type in WEIGHTED_OPS


def test_residual_adds_keep_both_inputs_quantized_when_fusion_is_off(tiny_graphs, tiny_inputs):
    graph = onnx.ModelProto.FromString(tiny_graphs[1]["portable"].SerializeToString())
    ensure_node_names(graph)
    fused, both = (quantized_inputs(graph, QDQConfig(fused_add_inputs=flag)) for flag in (True, False))
    adds = {n.name for n in graph.graph.node if n.op_type == "Add"}
    assert any(len(both[a]) == 2 and len(fused.get(a, [])) == 1 for a in adds & set(both))
    assert quantized_inputs(graph, QDQConfig(style="ort", fused_add_inputs=True)) == \
        quantized_inputs(graph, QDQConfig(style="ort", fused_add_inputs=False)), "ORT style fuses QLinearAdd: both"


def test_entropy_never_clips_softmax_probabilities(tiny_graphs, tiny_inputs):
    graph, _, _, observers, _ = _quantize(tiny_graphs[1]["portable"], tiny_inputs, "tensorrt", "entropy")
    producers = _producers(graph)
    softmax_outputs = [name for name in observers if producers.get(name) is not None
                       and producers[name].op_type == "Softmax"]
    for name in softmax_outputs:
        assert observers[name].threshold() == observers[name].amax


def test_ort_style_u8_activations_s8_weights_int32_bias(tiny_graphs, tiny_inputs):
    _, _, result, _, _ = _quantize(tiny_graphs[1]["portable"], tiny_inputs, "ort")
    zero_points = [_init(result.model, n.input[2]) for n in result.model.graph.node if n.op_type == "QuantizeLinear"]
    assert zero_points and all(z.dtype == np.uint8 for z in zero_points)
    dq_inputs = [_init(result.model, n.input[0]) for n in result.model.graph.node
                 if n.op_type == "DequantizeLinear" and n.input[0] in {i.name for i in result.model.graph.initializer}]
    assert {a.dtype for a in dq_inputs} == {np.dtype(np.int8), np.dtype(np.int32)}


@pytest.mark.parametrize("style", ["tensorrt", "ort"])
def test_int8_graph_stays_close_to_fp32(tiny_graphs, tiny_inputs, style):
    graph, _, result, _, _ = _quantize(tiny_graphs[1]["portable"], tiny_inputs, style)
    report = evaluate(graph, result.model, tiny_inputs, f"int8-{style}")
    assert report.cosine > 0.99
    assert report.layers and min(layer.sqnr_db for layer in report.layers) > 10.0


def test_plugin_nodes_get_qdq_on_q_k_v(tiny_graphs, tiny_inputs):
    portable, _, _, observers, _ = _quantize(tiny_graphs[1]["portable"], tiny_inputs, "tensorrt")
    plugins = onnx.ModelProto.FromString(tiny_graphs[1]["plugins"].SerializeToString())
    ensure_node_names(plugins)
    config = QDQConfig(style="tensorrt", method="max", skip_nodes=frozenset(find_islands(plugins, RULES)))
    needed = activation_tensors(plugins, config)
    extra = collect_ranges(portable, tiny_inputs, [t for t in needed if t not in observers], config)
    result = insert_qdq(plugins, {**observers, **extra}, config)
    producers = _producers(result.model)
    attention = [n for n in result.model.graph.node if n.domain == "edgeattn"]
    assert attention
    for node in attention:
        assert all(producers[i].op_type == "DequantizeLinear" for i in node.input[:3])


def test_cpu_gate_is_never_slower_than_fp32(tiny_graphs, tiny_inputs):
    graph, _, _, observers, config = _quantize(tiny_graphs[1]["portable"], tiny_inputs, "ort")
    gate = select_regions(graph, config, lambda cfg: insert_qdq(graph, observers, cfg).model, tiny_inputs[0],
                          threads=1, runs=5)
    assert gate.trials and all({"region", "latency_ms", "accepted"} <= set(t) for t in gate.trials)
    assert gate.int8_ms <= gate.fp32_ms
    accepted = [t for t in gate.trials if t["accepted"]]
    if not accepted:
        assert gate.skip_nodes >= config.skip_nodes and gate.int8_ms == gate.fp32_ms
    session = ort.InferenceSession(insert_qdq(graph, observers, QDQConfig(style="ort", method="max",
                                   skip_nodes=gate.skip_nodes)).model.SerializeToString(),
                                   providers=["CPUExecutionProvider"])
    assert session.run(None, {"image": tiny_inputs[0]})[0].shape == (1, 10)


def test_per_axis_activation_analysis_option(tiny_graphs, tiny_inputs):
    graph = onnx.ModelProto.FromString(tiny_graphs[1]["portable"].SerializeToString())
    ensure_node_names(graph)
    skip = frozenset(find_islands(graph, RULES))
    results = {}
    for per_axis in (False, True):
        config = QDQConfig(style="ort", method="max", per_axis_activations=per_axis, skip_nodes=skip)
        observers = collect_ranges(graph, tiny_inputs, activation_tensors(graph, config), config)
        results[per_axis] = insert_qdq(graph, observers, config).model
    quantizers = [n for n in results[True].graph.node if n.op_type == "QuantizeLinear"]
    four_d = [n for n in quantizers if _init(results[True], n.input[1]).ndim == 1]
    assert four_d and all(any(a.name == "axis" and a.i == 1 for a in n.attribute) for n in four_d)
    per_tensor = evaluate(graph, results[False], tiny_inputs, "per-tensor", optimize=False)
    per_axis = evaluate(graph, results[True], tiny_inputs, "per-axis", optimize=False)
    assert per_axis.sqnr_db >= per_tensor.sqnr_db - 1.0


def _ort_optimized_op_types(model, tmp_path) -> set[str]:
    options = ort.SessionOptions()
    options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_EXTENDED
    options.optimized_model_filepath = str(tmp_path / "optimized.onnx")
    ort.InferenceSession(model.SerializeToString(), options, providers=["CPUExecutionProvider"])
    return {n.op_type for n in onnx.load(tmp_path / "optimized.onnx").graph.node}


def test_ort_style_quantizes_outputs_so_ort_fuses_qlinear_conv(tiny_graphs, tiny_inputs, tmp_path):
    graph, _, result, _, _ = _quantize(tiny_graphs[1]["portable"], tiny_inputs, "ort")
    consumers = {}
    for node in result.model.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    convs = [n for n in result.model.graph.node if n.op_type == "Conv"]
    for conv in convs:
        after = consumers[conv.output[0]]
        if after[0].op_type == "Relu":
            after = consumers[after[0].output[0]]
        assert [n.op_type for n in after] == ["QuantizeLinear"], conv.name
    assert "QLinearConv" in _ort_optimized_op_types(result.model, tmp_path)



def test_cpu_gate_also_tries_regions_that_only_pay_off_together():
    from edgeattn.calibrate.cpu_gate import _joint_candidates

    found = {"conv_dense": ["a"], "conv_depthwise": ["b"], "add_residual": ["c"], "matmul_weights": ["d"]}
    assert _joint_candidates(found, ["add_residual"]) == [
        ("conv_dense", "conv_depthwise"),
        ("conv_dense", "conv_depthwise", "add_residual"),
        ("conv_dense", "matmul_weights", "conv_depthwise", "add_residual"),
    ]
    assert _joint_candidates({"conv_dense": ["a"]}, []) == []
    assert _joint_candidates(found, list(found)) == [("conv_dense", "conv_depthwise")]
