"""Which model block and which kind of work an ONNX node belongs to.

torch's dynamo exporter writes, per node, the module path (``pkg.torch.onnx.name_scopes``, e.g.
``['', 'stages', 'stages.2', 'stages.2.blocks.1', ...]``) and the module classes
(``pkg.torch.onnx.class_hierarchy``). From them a node gets a block ("stem", "stage 2", "head", ...)
and a kind ("attention", "conv", "norm", "other"). Nodes that implement an edgeattn op (the
``edgeattn`` domain node, or the portable decomposition of a ``torch.ops.edgeattn.*`` call) are
named after that op; other nodes inside attention modules count as "attention" without an op name.
ONNX Runtime renames nodes when it optimises a graph; ``attribute_nodes`` maps the optimised graph
back to the exported one through node and tensor names.
"""

from __future__ import annotations

import ast
import re
from dataclasses import dataclass
from functools import lru_cache

import onnx

EDGEATTN_DOMAIN = "edgeattn"
KINDS = ("attention", "conv", "norm", "other")

_SCOPES_KEY = "pkg.torch.onnx.name_scopes"
_CLASSES_KEY = "pkg.torch.onnx.class_hierarchy"
_STAGE = re.compile(r"^(?:stages?|layers?|blocks?|features)[._]?(\d+)$")
_NUMBERED_PER_STAGE = re.compile(r"^(?:patch_embed|norm)(\d+)$")
"""VAN-style per-stage modules (patch_embed1..4, norm1..4); patch_embed1 is the stem."""
_STEM_NAMES = ("stem", "patch_embed", "conv_stem", "bn1", "act1")
_HEAD_NAMES = ("head", "classifier", "fc", "global_pool", "conv_head", "final_conv", "norm_pre", "norm",
               "pre_logits", "head_drop", "act2", "flatten")
_ATTENTION_WORDS = re.compile(r"(attention|attn)", re.IGNORECASE)
"""Module classes named like attention (e.g. MobileViT's LinearSelfAttention) count as attention."""
_CONV_OPS = {"Conv", "ConvTranspose", "FusedConv", "QLinearConv", "ConvInteger", "NhwcConv"}
_NORM_OPS = {"BatchNormalization", "LayerNormalization", "GroupNormalization", "InstanceNormalization",
             "SimplifiedLayerNormalization", "SkipLayerNormalization", "SkipSimplifiedLayerNormalization",
             "LpNormalization", "MeanVarianceNormalization"}
_LAYOUT_OPS = {"ReorderInput", "ReorderOutput", "Transpose", "Reshape"}
_ORT_SUFFIX = re.compile(r"(_nchwc|_token_\d+|_fused|_output)$")


@dataclass(frozen=True)
class NodeOrigin:
    """Where a node comes from in the torch model."""

    block: str
    kind: str
    edgeattn_op: str | None
    module: str


UNKNOWN = NodeOrigin(block="other", kind="other", edgeattn_op=None, module="")


def _literal_list(text: str) -> list[str]:
    try:
        value = ast.literal_eval(text)
    except (ValueError, SyntaxError):
        return []
    return [str(v) for v in value] if isinstance(value, list) else []


def block_from_scopes(scopes: list[str]) -> str:
    """Block name from module paths (outermost first): "stem", "stage N", "head" or the top module."""
    paths = [s for s in scopes if s]
    if not paths:
        return "other"
    top = paths[0]
    numbered = _NUMBERED_PER_STAGE.match(top)
    if numbered:
        index = int(numbered.group(1))
        return "stem" if top.startswith("patch_embed") and index == 1 else f"stage {index}"
    for path in paths[:2]:
        parts = path.split(".")
        for i in range(len(parts)):
            match = _STAGE.match(".".join(parts[: i + 1]))
            if match:
                return f"stage {int(match.group(1))}"
    if top in _STEM_NAMES or "stem" in top or top.startswith("patch_embed"):
        return "stem"
    if top in _HEAD_NAMES or top.startswith("head"):
        return "head"
    return top


@lru_cache(maxsize=1)
def _op_modules() -> tuple[dict[str, str], dict[str, str]]:
    """(torch op folder -> op name, module class path -> profile kind) from every op's `OpDef`: the
    op's own nodes, and the nodes of the modules it replaces or that call it, belong to the op's kind."""
    from edgeattn.ops.registry import all_ops

    folders = {op.folder: op.name for op in all_ops()}
    classes = {path.replace(":", "."): op.profile_kind for op in all_ops() for swap in op.swaps
               for path in (swap.source, swap.replacement)}
    return folders, classes


def edgeattn_op_name(target: str) -> str | None:
    """Op name for an exporter op target such as ``edgeattn.single_head_attention.default``."""
    if not target.startswith(EDGEATTN_DOMAIN + "."):
        return None
    return _op_modules()[0].get(target.split(".")[1])


def _module_kind(modules: list[str]) -> str | None:
    classes = _op_modules()[1]
    for module in modules:
        if module in classes:
            return classes[module]
        if _ATTENTION_WORDS.search(module.rsplit(".", 1)[-1]):
            return "attention"
    return None


def _op_kind(op_name: str) -> str:
    from edgeattn.ops.registry import all_ops

    return next((op.profile_kind for op in all_ops() if op.name == op_name), "attention")


def _module_paths(scopes: list[str]) -> list[str]:
    """Module paths of a node; the exporter appends the node's own op name last, which is dropped."""
    return [s for s in scopes[:-1] if s]


def _module_classes(classes: list[str]) -> list[str]:
    """Module classes of a node; the exporter appends the op target (``aten.conv2d.default``) last."""
    return classes[:-1]


def origin_of(op_type: str, domain: str, scopes: list[str], classes: list[str]) -> NodeOrigin:
    """Classify one node from its op type, domain and the exporter's scope metadata."""
    paths = _module_paths(scopes)
    modules = _module_classes(classes)
    block = block_from_scopes(paths)
    module = paths[-1] if paths else ""
    if domain == EDGEATTN_DOMAIN:
        return NodeOrigin(block, _op_kind(op_type), op_type, module)
    op_name = edgeattn_op_name(classes[-1]) if classes else None
    if op_name is not None:
        return NodeOrigin(block, _op_kind(op_name), op_name, module)
    kind = _module_kind(modules)
    if kind is not None:
        return NodeOrigin(block, kind, None, module)
    if op_type in _CONV_OPS:
        return NodeOrigin(block, "conv", None, module)
    if op_type in _NORM_OPS or (modules and "Norm" in modules[-1].rsplit(".", 1)[-1]):
        return NodeOrigin(block, "norm", None, module)
    return NodeOrigin(block, "other", None, module)


def node_origins(model: onnx.ModelProto) -> dict[str, NodeOrigin]:
    """Origin of every named node of an exported graph (node name -> origin)."""
    origins: dict[str, NodeOrigin] = {}
    for node in model.graph.node:
        meta = {p.key: p.value for p in node.metadata_props}
        scopes = _literal_list(meta.get(_SCOPES_KEY, "[]"))
        classes = _literal_list(meta.get(_CLASSES_KEY, "[]"))
        if not scopes and node.domain != EDGEATTN_DOMAIN:
            continue
        origins[node.name] = origin_of(node.op_type, node.domain, scopes, classes)
    return origins


def attribute_nodes(exported: onnx.ModelProto, optimized: onnx.ModelProto) -> dict[str, NodeOrigin]:
    """Origin of every node of ORT's optimised graph, traced back to the exported graph.

    Matching order: same node name; the name without ORT's suffixes as an exported tensor; an output
    tensor produced by an exported node; else the producer (then a consumer) in the optimised graph.
    """
    by_node = node_origins(exported)
    by_tensor: dict[str, NodeOrigin] = {}
    for node in exported.graph.node:
        if node.name in by_node:
            for tensor in node.output:
                by_tensor[tensor] = by_node[node.name]

    result: dict[str, NodeOrigin] = {}
    for node in optimized.graph.node:
        stripped = node.name
        while _ORT_SUFFIX.search(stripped):
            stripped = _ORT_SUFFIX.sub("", stripped)
        found = by_node.get(node.name) or by_tensor.get(stripped) or by_node.get(stripped)
        if found is None:
            found = next((by_tensor[t] for t in node.output if t in by_tensor), None)
        if found is not None:
            result[node.name] = _retyped(found, node)
    _propagate(optimized, result)
    return result


def _retyped(origin: NodeOrigin, node: onnx.NodeProto) -> NodeOrigin:
    """Re-derive the kind from the optimised node's own op (ORT fuses Conv+Relu under the Relu's name)."""
    if node.domain == EDGEATTN_DOMAIN:
        return NodeOrigin(origin.block, "attention", origin.edgeattn_op or node.op_type, origin.module)
    if origin.kind == "attention":
        return origin
    if node.op_type in _CONV_OPS:
        kind = "conv"
    elif node.op_type in _NORM_OPS or (origin.kind == "norm" and node.op_type not in _LAYOUT_OPS):
        kind = "norm"
    else:
        kind = "other"
    return NodeOrigin(origin.block, kind, origin.edgeattn_op, origin.module)


def _propagate(optimized: onnx.ModelProto, result: dict[str, NodeOrigin]) -> None:
    producer: dict[str, str] = {t: n.name for n in optimized.graph.node for t in n.output}
    consumers: dict[str, list[str]] = {}
    for node in optimized.graph.node:
        for tensor in node.input:
            consumers.setdefault(tensor, []).append(node.name)
    nodes = list(optimized.graph.node)
    for node in nodes:
        if node.name in result:
            continue
        source = next((producer[t] for t in node.input if producer.get(t) in result), None)
        if source is not None:
            result[node.name] = _retyped(result[source], node)
    for node in reversed(nodes):
        if node.name in result:
            continue
        target = next((c for t in node.output for c in consumers.get(t, []) if c in result), None)
        result[node.name] = _retyped(result[target], node) if target is not None else UNKNOWN
