"""fp32 islands: the nodes of an exported graph that stay in fp32 in reduced-precision builds.

Rules come from three places: fixed facts (normalisation statistics, softmax), each op's
`OpDef.fp32_island_ops` (e.g. the linear-attention state and normaliser inside its portable decomposition,
found through the op the exporter records for each node) and the model's hints (`ModelSpec.fp32_sensitive`,
e.g. "softmax input").
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import onnx

from edgeattn.ops import all_ops
from edgeattn.ops.registry import DOMAIN, node_op

NORMALISATION_OPS = frozenset({"LayerNormalization", "GroupNormalization", "InstanceNormalization"})
SOFTMAX_INPUT_OPS = frozenset({"MatMul", "Add", "Mul", "Div"})
PLUGIN_DOMAIN = DOMAIN


@dataclass(frozen=True)
class IslandRules:
    """Which parts run in fp32. `reasons` maps each rule to the hint that switched it on."""

    normalisation: bool = True
    softmax: bool = True
    softmax_input: bool = False
    op_islands: bool = True
    reasons: dict[str, str] = field(default_factory=dict)


def rules_from_hints(hints: Iterable[str]) -> IslandRules:
    """Island rules for a model from its `ModelSpec.fp32_sensitive` hints (free text, matched by keyword)."""
    reasons = {
        "normalisation": "normalisation statistics overflow fp16 (always fp32)",
        "softmax": "softmax exponent and sum (always fp32)",
        **{o.name: o.fp32_island_ops[1] for o in all_ops() if o.fp32_island_ops},
    }
    softmax_input = False
    for hint in hints:
        if "softmax input" in hint.lower():
            softmax_input = True
            reasons["softmax_input"] = hint
    return IslandRules(softmax_input=softmax_input, reasons=reasons)


def find_islands(model: onnx.ModelProto, rules: IslandRules) -> dict[str, str]:
    """Node name -> reason, for every node of the main graph that must stay fp32."""
    graph = model.graph
    producers = {out: node for node in graph.node for out in node.output}
    islands: dict[str, str] = {}
    for node in graph.node:
        if node.domain == PLUGIN_DOMAIN:
            continue
        if rules.normalisation and node.op_type in NORMALISATION_OPS:
            islands[node.name] = "normalisation"
        elif rules.softmax and node.op_type == "Softmax":
            islands[node.name] = "softmax"
        elif rules.op_islands and (op := node_op(node)) is not None and op.fp32_island_ops \
                and node.op_type in op.fp32_island_ops[0]:
            islands[node.name] = op.name
    if rules.softmax_input:
        for node in graph.node:
            if node.op_type == "Softmax":
                _mark_softmax_input(node, producers, islands)
    return islands


def _mark_softmax_input(softmax: onnx.NodeProto, producers: dict[str, onnx.NodeProto], islands: dict[str, str]) -> None:
    """Walk back from a softmax through scale/bias ops to (and including) the scores MatMul."""
    frontier = [softmax.input[0]]
    while frontier:
        node = producers.get(frontier.pop())
        if node is None or node.op_type not in SOFTMAX_INPUT_OPS or node.name in islands:
            continue
        islands[node.name] = "softmax_input"
        if node.op_type != "MatMul":
            frontier.extend(node.input)


def ensure_node_names(model: onnx.ModelProto) -> None:
    """Give every unnamed node a deterministic unique name (islands and reports refer to nodes by name)."""
    used = {n.name for n in model.graph.node if n.name}
    for index, node in enumerate(model.graph.node):
        if not node.name:
            name = f"{node.op_type}_{index}"
            while name in used:
                name += "_"
            node.name = name
            used.add(name)
