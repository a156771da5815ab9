"""fp32 islands: the nodes of an exported graph that stay in fp32 in reduced-precision builds.

Rules come from two places: fixed facts (normalisation statistics, softmax, the linear-attention state
and normaliser) and the model's hints (`ModelSpec.fp32_sensitive`, e.g. "softmax input"). Nodes are
recognised by op type and by the module class recorded by the torch exporter in each node's
`pkg.torch.onnx.class_hierarchy` metadata (timm `LiteMLA` or the edgeattn op module).
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field

import onnx

NORMALISATION_OPS = frozenset({"LayerNormalization", "GroupNormalization", "InstanceNormalization"})
LINEAR_ATTENTION_CLASSES = ("LiteMLA", "ReLULinearAttention", "relu_linear_attention")
LINEAR_ATTENTION_CORE_OPS = frozenset({"MatMul", "Slice", "Add", "Div", "ReduceSum", "Reciprocal", "Mul"})
SOFTMAX_INPUT_OPS = frozenset({"MatMul", "Add", "Mul", "Div"})
PLUGIN_DOMAIN = "edgeattn"
CLASS_HIERARCHY_KEY = "pkg.torch.onnx.class_hierarchy"
NAMESPACE_KEY = "namespace"


@dataclass(frozen=True)
class IslandRules:
    """Which parts run in fp32. `reasons` maps each rule to the hint that switched it on."""

    normalisation: bool = True
    softmax: bool = True
    softmax_input: bool = False
    linear_attention: bool = True
    reasons: dict[str, str] = field(default_factory=dict)


def rules_from_hints(hints: Iterable[str]) -> IslandRules:
    """Island rules for a model from its `ModelSpec.fp32_sensitive` hints (free text, matched by keyword)."""
    reasons = {
        "normalisation": "normalisation statistics overflow fp16 (always fp32)",
        "softmax": "softmax exponent and sum (always fp32)",
        "linear_attention": "ReLU linear attention k^T v state, normaliser and division (always fp32)",
    }
    softmax_input = False
    for hint in hints:
        if "softmax input" in hint.lower():
            softmax_input = True
            reasons["softmax_input"] = hint
    return IslandRules(softmax_input=softmax_input, reasons=reasons)


def _class_hierarchy(node: onnx.NodeProto) -> str:
    for prop in node.metadata_props:
        if prop.key in (CLASS_HIERARCHY_KEY, NAMESPACE_KEY):
            return prop.value
    return ""


def in_linear_attention(node: onnx.NodeProto) -> bool:
    """Whether the exporter recorded this node inside a linear-attention module."""
    hierarchy = _class_hierarchy(node)
    return any(name in hierarchy for name in LINEAR_ATTENTION_CLASSES)


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
        elif rules.linear_attention and node.op_type in LINEAR_ATTENTION_CORE_OPS and in_linear_attention(node):
            islands[node.name] = "linear_attention"
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
