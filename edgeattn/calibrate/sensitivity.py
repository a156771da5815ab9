"""Sensitivity-guided fallback: keep the quantized nodes that hurt most in higher precision.

One graph answers every question: each quantized node i runs on its quantized and on its original
inputs and outputs `fp32 + flags[i] * (int8 - fp32)`, so a single ONNX Runtime session runs any mix of
INT8 and fp32 nodes by changing the 0/1 `flags` input (fp32 where a flag is 0, up to kernel rounding).
The session runs Q/DQ simulated (no QLinear fusions): with every flag on it computes what the plain Q/DQ
graph means, whichever fused kernels an ORT release would pick for it.
The ranking quantizes one node at a time and measures the logit damage (1 - cosine against fp32); the
fallback then keeps the k worst nodes in higher precision, with k the smallest count (binary search)
that brings the whole graph to the target cosine on the calibration inputs. Fidelity is reported
separately on held-out inputs.

On TensorRT a node without Q/DQ runs in fp16 (TRT 10 with `--fp16`) or in its ONNX type (strongly typed);
on ORT CPU it runs in fp32.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field

import numpy as np
import onnx
from onnx import TensorProto, helper

from edgeattn.calibrate.fidelity import logit_metrics
from edgeattn.calibrate.frames import Batch, runs
from edgeattn.calibrate.islands import PLUGIN_DOMAIN, ensure_node_names
from edgeattn.calibrate.observers import Observer
from edgeattn.calibrate.qdq import QDQConfig, insert_qdq, weight_inputs
from edgeattn.runners.ort import OrtRunner

FLAGS = "edgeattn_quant_flags"


@dataclass
class SwitchGraph:
    """A graph whose quantized nodes are switched on and off by the 0/1 float input `FLAGS`."""

    model: onnx.ModelProto
    nodes: list[str]


def switch_graph(original: onnx.ModelProto, observers: dict[str, Observer], config: QDQConfig) -> SwitchGraph:
    """Build the Q/DQ graph of `config` with one on/off switch per quantized node.

    A switched node runs twice, on its quantized and on its original inputs; its output is
    `fp32 + flags[i] * (int8 - fp32)`. Blending outputs rather than inputs keeps weights out of the
    per-run arithmetic (mixing a large weight tensor on every run costs more than the convolution)."""
    original = _named_copy(original)
    quantized = insert_qdq(original, observers, config).model
    before = {n.name: list(n.input) for n in original.graph.node}
    initializers = {init.name: init for init in original.graph.initializer}
    present = {init.name for init in quantized.graph.initializer}
    nodes: list[onnx.NodeProto] = []
    switched: list[str] = []
    for node in quantized.graph.node:
        old_inputs = before.get(node.name)
        if old_inputs is None or list(node.input) == old_inputs:
            nodes.append(node)
            continue
        index = len(switched)
        switched.append(node.name)
        flag, flag_index = f"{FLAGS}__{index}", f"{FLAGS}__index_{index}"
        quantized.graph.initializer.append(helper.make_tensor(flag_index, TensorProto.INT64, [], [index]))
        for name in old_inputs:
            if name in initializers and name not in present:
                quantized.graph.initializer.append(initializers[name])
                present.add(name)
        reference = onnx.NodeProto()
        reference.CopyFrom(node)
        reference.name = f"{node.name}__fp32"
        del reference.input[:]
        reference.input.extend(old_inputs)
        del reference.output[:]
        reference.output.extend(f"{out}__fp32" for out in node.output)
        int8 = onnx.NodeProto()
        int8.CopyFrom(node)
        del int8.output[:]
        int8.output.extend(f"{out}__int8" for out in node.output)
        nodes += [helper.make_node("Gather", [FLAGS, flag_index], [flag], name=f"Gather__{flag}"), reference, int8]
        for out in node.output:
            nodes += [
                helper.make_node("Sub", [f"{out}__int8", f"{out}__fp32"], [f"{out}__delta"], name=f"Sub__{out}"),
                helper.make_node("Mul", [f"{out}__delta", flag], [f"{out}__scaled"], name=f"Mul__{out}"),
                helper.make_node("Add", [f"{out}__fp32", f"{out}__scaled"], [out], name=f"Add__{out}"),
            ]
    del quantized.graph.node[:]
    quantized.graph.node.extend(nodes)
    quantized.graph.input.append(helper.make_tensor_value_info(FLAGS, TensorProto.FLOAT, [len(switched)]))
    return SwitchGraph(quantized, switched)


def _named_copy(model: onnx.ModelProto) -> onnx.ModelProto:
    copy = onnx.ModelProto()
    copy.CopyFrom(model)
    ensure_node_names(copy)
    return copy


class _Runner:
    """Runs a switch graph on fixed inputs and compares its logits with fp32."""

    def __init__(self, graph: SwitchGraph, inputs: Sequence[Batch], threads: int) -> None:
        self._runner = OrtRunner(graph.model, threads, qdq="simulated").prepare()
        self._output = graph.model.graph.output[0].name
        self._feeds = [feeds for x in inputs for feeds, _, _ in runs(self._runner, x)]
        self.size = len(graph.nodes)
        self._reference = self.logits(np.zeros(self.size, dtype=bool))

    def logits(self, flags: np.ndarray) -> np.ndarray:
        flags = np.asarray(flags, dtype=np.float32)
        return np.concatenate([self._runner.infer({**feeds, FLAGS: flags})[self._output] for feeds in self._feeds])

    def cosine(self, flags: np.ndarray) -> float:
        return logit_metrics(self._reference, self.logits(flags))["cosine"]


@dataclass
class Fallback:
    """The nodes kept in higher precision and the measurements behind the choice."""

    target_cosine: float
    kept: frozenset[str]
    """Quantized nodes the fallback keeps in higher precision."""
    skip_nodes: frozenset[str]
    """`kept` plus the nodes the config already skipped (fp32 islands): the config for Q/DQ emission."""
    cosine_all_int8: float
    cosine_after: float
    quantized_nodes: int
    ranking: list[dict] = field(default_factory=list)

    def to_json(self) -> dict:
        return {"target_cosine": self.target_cosine, "measured_on": "calibration inputs",
                "cosine_all_int8": self.cosine_all_int8, "cosine_after_fallback": self.cosine_after,
                "quantized_nodes": self.quantized_nodes, "kept_in_higher_precision": sorted(self.kept),
                "most_sensitive": self.ranking[:20]}


def select_fallback(
    original: onnx.ModelProto,
    observers: dict[str, Observer],
    config: QDQConfig,
    inputs: Sequence[Batch],
    target_cosine: float,
    threads: int = 2,
) -> Fallback:
    """Rank quantized nodes by one-at-a-time damage and keep the fewest worst ones in higher precision
    so that logit cosine against fp32 on `inputs` reaches `target_cosine` (all of them if it never does)."""
    graph = switch_graph(original, observers, config)
    runner = _Runner(graph, inputs, threads)
    all_on = np.ones(runner.size, dtype=bool)
    cosine_all = runner.cosine(all_on)
    damage = []
    for index in range(runner.size):
        flags = np.zeros(runner.size, dtype=bool)
        flags[index] = True
        damage.append(1.0 - runner.cosine(flags))
    order = sorted(range(runner.size), key=lambda i: (-damage[i], graph.nodes[i]))
    ranking = [{"node": graph.nodes[i], "one_minus_cos_alone": damage[i]} for i in order]

    def cosine_without(count: int) -> float:
        flags = all_on.copy()
        flags[order[:count]] = False
        return runner.cosine(flags)

    low, high, best = 0, runner.size, 1.0
    if cosine_all >= target_cosine:
        high, best = 0, cosine_all
    while low < high:
        middle = (low + high) // 2
        value = cosine_without(middle)
        if value >= target_cosine:
            high, best = middle, value
        else:
            low = middle + 1
    count = high
    weighted = set(weight_inputs(original, config))
    skip = frozenset(graph.nodes[i] for i in order[:count])
    for record in ranking:
        record["weighted"] = record["node"] in weighted
    return Fallback(target_cosine, skip, config.skip_nodes | skip, cosine_all, best if count else cosine_all,
                    runner.size, ranking)


def matching_nodes(source: onnx.ModelProto, target: onnx.ModelProto, names: frozenset[str]) -> frozenset[str]:
    """Nodes of `target` (another flavour of the same export) that compute what `names` compute in `source`.

    Flavours share tensor names outside the edgeattn ops, so a target node matches when it produces an
    output of a named source node, or when it is an edgeattn plugin node whose decomposition in `source`
    (the nodes on paths from the plugin's inputs to its outputs) contains a named node."""
    producers = {out: node for node in source.graph.node for out in node.output}
    consumers: dict[str, list[onnx.NodeProto]] = {}
    for node in source.graph.node:
        for name in node.input:
            consumers.setdefault(name, []).append(node)
    named_outputs = {out for node in source.graph.node if node.name in names for out in node.output}
    found = set()
    for node in target.graph.node:
        if named_outputs.intersection(node.output):
            found.add(node.name)
        elif node.domain == PLUGIN_DOMAIN:
            inside = _ancestors(producers, node.output) & _descendants(consumers, node.input)
            if any(n in names for n in inside):
                found.add(node.name)
    return frozenset(found)


def _ancestors(producers: dict[str, onnx.NodeProto], tensors) -> set[str]:
    seen: set[str] = set()
    stack = [producers[t] for t in tensors if t in producers]
    while stack:
        node = stack.pop()
        if node.name not in seen:
            seen.add(node.name)
            stack += [producers[t] for t in node.input if t in producers]
    return seen


def _descendants(consumers: dict[str, list[onnx.NodeProto]], tensors) -> set[str]:
    seen: set[str] = set()
    stack = [n for t in tensors for n in consumers.get(t, [])]
    while stack:
        node = stack.pop()
        if node.name not in seen:
            seen.add(node.name)
            stack += [n for t in node.output for n in consumers.get(t, [])]
    return seen
