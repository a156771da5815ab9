"""TensorRT layers -> ONNX nodes -> edgeattn ops and model blocks; per-layer and per-op breakdown.

TensorRT names a fused layer after the ONNX nodes it fused (``Conv_5 + Add_6 + Relu_7``), a Myelin
region after its first and last node (``{ForeignNode[a...b]}``), and, with detailed profiling verbosity
since TensorRT 8.6, lists the nodes in the layer's ``Metadata`` (``[ONNX Layer: a]`` pieces separated by
ASCII record/unit separators). A layer is traced to ONNX nodes through Metadata first, then its name.
Given the ONNX graph, the nodes' op types, blocks, kinds and edgeattn ops come from
``profile.blocks.node_origins``; without it, op types are read from ONNX-style node names (``Conv_5``) and
blocks from parameter names (``layer1.0.conv1.weight``). Reformat/copy layers, Q/DQ conversions and
plugins get their own category so they show as their own lines.
"""

from __future__ import annotations

import re
from collections import defaultdict
from dataclasses import dataclass
from typing import Any

import onnx

from edgeattn.profile.blocks import UNKNOWN, NodeOrigin, block_from_scopes, node_origins
from edgeattn.tolerances import PROFILE_BREAKDOWN_REL_TOLERANCE as COVERAGE_REL_TOLERANCE

TOP_LAYERS = 25
MAX_NODES_LISTED = 40

_SEPARATORS = re.compile("[\x1e\x1f]")
_ONNX_LAYER = re.compile(r"^\[ONNX Layer: (.*)\]$")
_REFORMAT = re.compile(r"^Reformatting CopyNode for (?:Input|Output) Tensor \d+ to (.+)$")
_FOREIGN = re.compile(r"^\{ForeignNode\[(.+?)\.\.\.(.+)\]\}$")
_PARAM = re.compile(r"^(.+)\.(weight|bias|running_mean|running_var|scale)$")
_OP_IN_NAME = re.compile(r"(?:^|/)([A-Z][A-Za-z0-9]*?)(?:_\d+)?$")
_STANDARD_DOMAINS = {"", "ai.onnx", "ai.onnx.ml"}
_GLUE_OPS = {"QuantizeLinear", "DequantizeLinear", "Constant", "Identity", "Cast", "Reshape", "Unsqueeze",
             "Squeeze", "Flatten", "Transpose", "Shape", "Shuffle"}
_CONV_OPS = {"Conv", "ConvTranspose"}
_PRECISION_WORDS = (("int8", "int8"), ("fp16", "fp16"), ("half", "fp16"), ("bf16", "bf16"), ("fp8", "fp8"),
                    ("fp32", "fp32"), ("float", "fp32"), ("int32", "int32"), ("bool", "bool"))


@dataclass(frozen=True)
class GraphIndex:
    """The ONNX graph a TensorRT engine was built from, indexed by node name."""

    order: dict[str, int]
    op_type: dict[str, str]
    domain: dict[str, str]
    origins: dict[str, NodeOrigin]

    @classmethod
    def from_model(cls, model: onnx.ModelProto) -> GraphIndex:
        nodes = [n for n in model.graph.node if n.name]
        return cls(order={n.name: i for i, n in enumerate(nodes)}, op_type={n.name: n.op_type for n in nodes},
                   domain={n.name: n.domain for n in nodes}, origins=node_origins(model))

    def span(self, first: str, last: str) -> list[str]:
        """Nodes from ``first`` to ``last`` in graph order (a Myelin region)."""
        if first not in self.order or last not in self.order:
            return []
        lo, hi = sorted((self.order[first], self.order[last]))
        return [name for name, i in sorted(self.order.items(), key=lambda kv: kv[1]) if lo <= i <= hi]


def layer_info(raw: Any) -> dict[str, Any]:
    """A layer of ``--exportLayerInfo``: an object (detailed verbosity) or just its name."""
    return raw if isinstance(raw, dict) else {"Name": str(raw)}


def metadata_nodes(info: dict[str, Any]) -> list[str]:
    """ONNX node names in a layer's Metadata (``[ONNX Layer: a]\\x1e[ONNX Layer: b]``)."""
    names = []
    for piece in _SEPARATORS.split(str(info.get("Metadata", ""))):
        match = _ONNX_LAYER.match(piece.strip())
        if match:
            names.append(match.group(1))
    return names


def name_parts(name: str) -> list[str]:
    """The pieces of a fused layer name, ``Conv_5 + Add_6 + Relu_7`` -> [Conv_5, Add_6, Relu_7]."""
    reformat = _REFORMAT.match(name)
    return [p.strip() for p in (reformat.group(1) if reformat else name).split(" + ") if p.strip()]


def category(info: dict[str, Any], nodes: list[str], index: GraphIndex | None) -> str:
    """reformat (layout/precision copy), quantize (Q/DQ conversion), plugin, noop or compute."""
    name, layer_type = info["Name"], str(info.get("LayerType", ""))
    origin, parameter_type = info.get("Origin"), str(info.get("ParameterType", ""))
    if origin == "QDQ":
        return "quantize"
    if origin == "REFORMAT" or name.startswith("Reformatting CopyNode") or layer_type == "Reformat":
        return "reformat"
    foreign = index is not None and any(index.domain.get(n, "") not in _STANDARD_DOMAINS for n in nodes)
    if layer_type.startswith("Plugin") or parameter_type.startswith("Plugin") or foreign:
        return "plugin"
    return "noop" if layer_type == "NoOp" else "compute"


def onnx_nodes(info: dict[str, Any], index: GraphIndex | None) -> list[str]:
    """The ONNX nodes a layer implements (empty for reformats and when nothing can be traced)."""
    if index is None:
        return []
    listed = [n for n in metadata_nodes(info) if n in index.order]
    if listed:
        return listed
    name = info["Name"]
    if _REFORMAT.match(name):
        return []
    foreign = _FOREIGN.match(name)
    if foreign:
        return index.span(foreign.group(1), foreign.group(2))
    return [p for p in name_parts(name) if p in index.order]


def _guessed_ops(name: str) -> list[str]:
    ops = []
    for part in name_parts(name):
        match = _OP_IN_NAME.search(part)
        if match and not part.startswith("(") and not _PARAM.match(part):
            ops.append(match.group(1))
    return ops


def _primary(ops: list[str]) -> str | None:
    return next((op for op in ops if op not in _GLUE_OPS), ops[0] if ops else None)


def _kind_of_op(op: str | None, edgeattn_op: str | None) -> str:
    if edgeattn_op:
        return "attention"
    if op in _CONV_OPS:
        return "conv"
    return "norm" if op and "Norm" in op else "other"


def _edgeattn_op_names() -> set[str]:
    from edgeattn.ops import all_ops

    return {op.name for op in all_ops()}


def _plugin_name(info: dict[str, Any], nodes: list[str], index: GraphIndex | None) -> str:
    for node in nodes:
        if index is not None and index.domain.get(node, "") not in _STANDARD_DOMAINS:
            return index.op_type[node]
    for key in ("PluginType", "PluginName", "Plugin"):
        if isinstance(info.get(key), str):
            return info[key]
    return info["Name"]


def _traced(info: dict[str, Any], nodes: list[str], kind_hint: str, index: GraphIndex) -> dict[str, Any]:
    """op type, block, kind, edgeattn op and module of a layer traced to ONNX nodes."""
    ops = [index.op_type[n] for n in nodes]
    primary = nodes[ops.index(_primary(ops))]
    origin = index.origins.get(primary, UNKNOWN)
    origins = [index.origins.get(n, UNKNOWN) for n in nodes]
    edgeattn_op = next((o.edgeattn_op for o in origins if o.edgeattn_op), None)
    kind = "attention" if any(o.kind == "attention" for o in origins) else origin.kind
    op_type = _plugin_name(info, nodes, index) if kind_hint == "plugin" else index.op_type[primary]
    return {"op_type": op_type, "block": origin.block, "kind": kind, "edgeattn_op": edgeattn_op,
            "module": origin.module}


def _untraced(info: dict[str, Any], category_name: str) -> dict[str, Any]:
    """op type and kind from the layer name alone; block from parameter names in it."""
    name = info["Name"]
    modules = [m.group(1) for p in name_parts(name) if (m := _PARAM.match(p))]
    block = block_from_scopes([modules[0]]) if modules else "other"
    if category_name == "plugin":
        plugin = _plugin_name(info, [], None)
        edgeattn_op = plugin if plugin in _edgeattn_op_names() else None
        return {"op_type": plugin, "block": block, "kind": _kind_of_op(None, edgeattn_op),
                "edgeattn_op": edgeattn_op, "module": modules[0] if modules else ""}
    op = _primary(_guessed_ops(name)) or str(info.get("LayerType") or "unknown")
    return {"op_type": op, "block": block, "kind": _kind_of_op(op, None), "edgeattn_op": None,
            "module": modules[0] if modules else ""}


def precision(info: dict[str, Any]) -> str | None:
    """Output precision of a layer from its tensor formats (``Channel major FP16 format ...`` -> fp16)."""
    for tensor in info.get("Outputs", []) or []:
        text = str(tensor.get("Format/Datatype", "")).lower() if isinstance(tensor, dict) else ""
        for word, value in _PRECISION_WORDS:
            if word in text:
                return value
    return None


def describe_layer(info: dict[str, Any], ms: float, index: GraphIndex | None) -> dict[str, Any]:
    """One profiled layer with its category, ONNX nodes, op type, block, kind and edgeattn op."""
    nodes = onnx_nodes(info, index)
    kind_of = category(info, nodes, index)
    if kind_of == "reformat":
        traced = {"op_type": "Reformat", "block": "other", "kind": "reformat", "edgeattn_op": None, "module": ""}
    elif nodes and index is not None:
        traced = _traced(info, nodes, kind_of, index)
    else:
        traced = _untraced(info, kind_of)
    if kind_of == "quantize" and traced["op_type"] not in ("QuantizeLinear", "DequantizeLinear"):
        traced["op_type"] = "QuantizeLinear"
    return {"name": info["Name"], "category": kind_of, "layer_type": str(info.get("LayerType") or ""),
            **traced, "plugin": traced["op_type"] if kind_of == "plugin" else None,
            "onnx_node_count": len(nodes), "onnx_nodes": nodes[:MAX_NODES_LISTED],
            "tactic": str(info.get("TacticName") or ""), "precision": precision(info), "ms": float(ms)}


def _reformat_blocks(rows: list[dict[str, Any]]) -> None:
    """A reformat layer belongs to the block of the layer it feeds (or whose output it copies)."""
    by_name = {r["name"]: r for r in rows}
    for row in rows:
        target = _REFORMAT.match(row["name"])
        if row["category"] == "reformat" and target and target.group(1) in by_name:
            row["block"] = by_name[target.group(1)]["block"]


def layer_rows(profile: list[dict[str, Any]], layers: list[Any], index: GraphIndex | None) -> list[dict[str, Any]]:
    """Rows for every layer of the profile, in engine order, joined with the layer info by name."""
    infos: dict[str, list[dict[str, Any]]] = defaultdict(list)
    for raw in layers:
        info = layer_info(raw)
        infos[info["Name"]].append(info)
    rows = []
    for entry in profile:
        name = str(entry["name"])
        queue = infos.get(name)
        info = queue.pop(0) if queue else {"Name": name}
        rows.append(describe_layer(info, entry["averageMs"], index))
    _reformat_blocks(rows)
    return rows
