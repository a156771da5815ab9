"""Sensitivity-guided fallback: the switch graph is exact at both ends, the fallback reaches its target,
and fallen-back nodes are found again in the plugin flavour."""

from __future__ import annotations

import numpy as np
import onnx
import pytest

from edgeattn.calibrate.fidelity import evaluate
from edgeattn.calibrate.islands import ensure_node_names, find_islands, rules_from_hints
from edgeattn.calibrate.qdq import (
    QDQConfig,
    activation_tensors,
    collect_ranges,
    insert_qdq,
)
from edgeattn.calibrate.sensitivity import (
    FLAGS,
    matching_nodes,
    select_fallback,
    switch_graph,
)
from edgeattn.runners.ort import OrtRunner

RULES = rules_from_hints([])


@pytest.fixture(scope="module")
def calibrated(tiny_graphs, tiny_inputs):
    graph = onnx.ModelProto.FromString(tiny_graphs[1]["portable"].SerializeToString())
    ensure_node_names(graph)
    config = QDQConfig(style="tensorrt", method="max", skip_nodes=frozenset(find_islands(graph, RULES)))
    observers = collect_ranges(graph, tiny_inputs, activation_tensors(graph, config), config)
    return graph, observers, config


def _run(model, x, flags=None):
    """Q/DQ simulated: what the graph means (TensorRT's integer maths), not which fused x86 kernel an ORT
    release picks (ORT 1.32's s8s8 QLinearConv differs from the exact result by a few % on this graph)."""
    feed = {"image": x} if flags is None else {"image": x, FLAGS: flags.astype(np.float32)}
    with OrtRunner(model, threads=1, qdq="simulated") as runner:
        return runner.infer(feed)["logits"]


def test_switch_graph_is_fp32_when_off_and_int8_when_on(calibrated, tiny_inputs):
    graph, observers, config = calibrated
    switched = switch_graph(graph, observers, config)
    assert len(switched.nodes) > 5
    x = tiny_inputs[0]
    off, on = np.zeros(len(switched.nodes)), np.ones(len(switched.nodes))
    fp32 = _run(graph, x)
    np.testing.assert_allclose(_run(switched.model, x, off), fp32, rtol=1e-5, atol=1e-6 * np.abs(fp32).max())
    int8 = _run(insert_qdq(graph, observers, config).model, x)
    np.testing.assert_allclose(_run(switched.model, x, on), int8, rtol=1e-4, atol=1e-4 * np.abs(int8).max())
    assert np.abs(int8 - _run(graph, x)).max() > 1e-3


def test_switching_one_node_matches_quantizing_only_that_node(calibrated, tiny_inputs):
    graph, observers, config = calibrated
    switched = switch_graph(graph, observers, config)
    index = len(switched.nodes) // 2
    flags = np.zeros(len(switched.nodes))
    flags[index] = 1
    only = config.skip_nodes | {n for i, n in enumerate(switched.nodes) if i != index}
    alone = insert_qdq(graph, observers, QDQConfig(style="tensorrt", method="max", skip_nodes=frozenset(only))).model
    expected = _run(alone, tiny_inputs[1])
    np.testing.assert_allclose(_run(switched.model, tiny_inputs[1], flags), expected, rtol=1e-4,
                               atol=1e-4 * np.abs(expected).max())


def test_fallback_reaches_its_target_with_the_fewest_ranked_nodes(calibrated, tiny_inputs):
    graph, observers, config = calibrated
    everything = evaluate(graph, insert_qdq(graph, observers, config).model, tiny_inputs, "int8", layers=False)
    target = 1.0 - (1.0 - everything.cosine) / 10
    fallback = select_fallback(graph, observers, config, tiny_inputs, target, threads=1)
    assert 0 < len(fallback.kept) < fallback.quantized_nodes
    assert fallback.cosine_all_int8 == pytest.approx(everything.cosine, abs=1e-6)
    assert fallback.cosine_after >= target
    assert fallback.skip_nodes == config.skip_nodes | fallback.kept
    kept = insert_qdq(graph, observers, QDQConfig(style="tensorrt", method="max", skip_nodes=fallback.skip_nodes))
    assert evaluate(graph, kept.model, tiny_inputs, "int8", layers=False).cosine >= target - 1e-6
    ranked = [r["node"] for r in fallback.ranking]
    assert set(ranked[: len(fallback.kept)]) == fallback.kept
    damage = [r["one_minus_cos_alone"] for r in fallback.ranking]
    assert damage == sorted(damage, reverse=True)


def test_fallback_keeps_nothing_when_int8_already_meets_the_target(calibrated, tiny_inputs):
    graph, observers, config = calibrated
    fallback = select_fallback(graph, observers, config, tiny_inputs[:1], 0.5, threads=1)
    assert fallback.kept == frozenset() and fallback.skip_nodes == config.skip_nodes


def test_fallen_back_attention_maps_onto_the_plugin_node(tiny_graphs):
    portable = onnx.ModelProto.FromString(tiny_graphs[1]["portable"].SerializeToString())
    plugins = onnx.ModelProto.FromString(tiny_graphs[1]["plugins"].SerializeToString())
    ensure_node_names(portable)
    ensure_node_names(plugins)
    softmax = next(n for n in portable.graph.node if n.op_type == "Softmax")
    found = matching_nodes(portable, plugins, frozenset({softmax.name}))
    assert found and all(n.domain == "edgeattn" for n in plugins.graph.node if n.name in found)
    conv = next(n for n in portable.graph.node if n.op_type == "Conv")
    twin = matching_nodes(portable, plugins, frozenset({conv.name}))
    assert [n.output[0] for n in plugins.graph.node if n.name in twin] == [conv.output[0]]
