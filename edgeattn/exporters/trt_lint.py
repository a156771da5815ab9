"""Static TensorRT readiness check of an ONNX model, without TensorRT.

For each requested TensorRT release, every node must be an operator that release's ONNX parser
supports (with the attribute and constant-input restrictions that matter) or an edgeattn plugin
op with a spec, whose attributes the parser can pass to a plugin creator. The parser facts are
data: `trt_onnx_support.yaml` (sources: NVIDIA onnx-tensorrt docs/operators.md per release,
its Changelog, and the plugin field loader).
"""

from __future__ import annotations

import itertools
import json
from collections.abc import Iterable, Iterator
from functools import cache
from pathlib import Path
from typing import Any, Literal

import onnx
import yaml
from onnx import numpy_helper
from pydantic import BaseModel, ConfigDict, Field, computed_field

from edgeattn.errors import UsageError

Severity = Literal["error", "warning", "info"]
SUPPORT_FILE = Path(__file__).with_name("trt_onnx_support.yaml")
_STANDARD_DOMAINS = ("", "ai.onnx")
_EDGEATTN_DOMAIN = "edgeattn"
_INT32_MIN, _INT32_MAX = -(2**31), 2**31 - 1
_CONSTANT_PRODUCERS = {"Constant", "ConstantOfShape"}
_SHAPE_PRODUCERS = {"Shape", "Size"}
_NONDETERMINISTIC = {"RandomNormal", "RandomNormalLike", "RandomUniform", "RandomUniformLike",
                     "Multinomial", "Bernoulli"}


class Finding(BaseModel):
    """One problem (or note) about one node, for the TensorRT releases it applies to."""

    model_config = ConfigDict(frozen=True)
    node: str
    op: str
    severity: Severity
    reason: str
    trt_versions: list[str] = Field(default_factory=list)


class LintReport(BaseModel):
    """Findings of `lint`; `ok` is true when no finding is an error."""

    trt_versions: list[str]
    findings: list[Finding]

    @computed_field
    @property
    def ok(self) -> bool:
        return not self.errors

    @property
    def errors(self) -> list[Finding]:
        return [f for f in self.findings if f.severity == "error"]

    def to_json(self) -> str:
        """Deterministic JSON (the content of trt_lint.json)."""
        return json.dumps(self.model_dump(mode="json"), indent=2, sort_keys=True) + "\n"


def parse_version(version: str) -> tuple[int, ...]:
    """'10.3' -> (10, 3); '11' -> (11,). Raises UsageError on anything else."""
    try:
        parts = tuple(int(p) for p in str(version).strip().split("."))
    except ValueError:
        parts = ()
    if not parts:
        raise UsageError(
            f"Invalid TensorRT version {version!r}.", "Use dotted numbers such as 10.3, 10.16 or 11."
        )
    return parts


@cache
def load_support() -> dict[str, Any]:
    """The parsed trt_onnx_support.yaml."""
    return yaml.safe_load(SUPPORT_FILE.read_text())


def _release(version: str) -> tuple[str, dict[str, Any], bool, str]:
    """(document key, document, confirmed, note) that answers for `version`."""
    support = load_support()
    wanted = parse_version(version)
    releases = sorted(support["releases"].items(), key=lambda kv: parse_version(kv[0]))
    chosen = None
    for name, info in releases:
        if parse_version(name) <= wanted:
            chosen = (name, info)
    if chosen is None:
        oldest = releases[0][0]
        raise UsageError(
            f"No TensorRT ONNX-parser facts for TensorRT {version}.",
            f"Lint for TensorRT {oldest} or newer (edgeattn targets TensorRT 10.x and 11.x).",
        )
    name, info = chosen
    exact = parse_version(name) == wanted[: len(parse_version(name))]
    confirmed = bool(info.get("confirmed")) and exact and len(wanted) <= len(parse_version(name))
    note = info.get("note", "") if exact else f"no facts for {version} itself; using {name}'s"
    document = info["document"]
    return document, support["documents"][document], confirmed, note


def _applies(rule: dict[str, Any], version: tuple[int, ...]) -> bool:
    since, before = rule.get("since"), rule.get("before")
    if since is not None and version < parse_version(since):
        return False
    return not (before is not None and version >= parse_version(before))


class _Graph:
    """Constant analysis of one graph: which values are initializers or build-time constants."""

    def __init__(self, graph: onnx.GraphProto, outer_constants: Iterable[str] = ()) -> None:
        self.static_shapes = {
            vi.name
            for vi in list(graph.input) + list(graph.value_info) + list(graph.output)
            if vi.type.HasField("tensor_type")
            and vi.type.tensor_type.HasField("shape")
            and all(d.HasField("dim_value") for d in vi.type.tensor_type.shape.dim)
        }
        self.arrays = {i.name: i for i in graph.initializer}
        self.initializers = {i.name for i in graph.initializer} | set(outer_constants)
        self.initializers |= {""}
        self.constant = set(self.initializers)
        self.build_time = set(self.initializers)
        for node in graph.node:
            inputs = [i for i in node.input if i]
            if node.op_type in _NONDETERMINISTIC:
                continue
            if node.op_type in _CONSTANT_PRODUCERS and all(i in self.constant for i in inputs):
                self.constant.update(node.output)
                self.build_time.update(node.output)
            elif inputs and all(i in self.constant for i in inputs):
                self.constant.update(node.output)
                self.build_time.update(node.output)
            elif node.op_type in _SHAPE_PRODUCERS and inputs and inputs[0] in self.static_shapes:
                self.build_time.update(node.output)
            elif inputs and all(i in self.build_time for i in inputs):
                self.build_time.update(node.output)

    def is_constant(self, name: str, kind: str) -> bool:
        return name in (self.constant if kind == "initializer" else self.build_time)


def _nodes(graph: onnx.GraphProto, outer: Iterable[str] = ()) -> Iterator[tuple[onnx.NodeProto, _Graph]]:
    analysis = _Graph(graph, outer)
    for node in graph.node:
        yield node, analysis
        for attribute in node.attribute:
            subgraphs = list(attribute.graphs) + ([attribute.g] if attribute.HasField("g") else [])
            for sub in subgraphs:
                yield from _nodes(sub, analysis.constant)


def _node_label(node: onnx.NodeProto, index: int) -> str:
    return node.name or f"{node.op_type}_{index}"


def _op_label(node: onnx.NodeProto) -> str:
    return f"{node.domain}::{node.op_type}" if node.domain not in _STANDARD_DOMAINS else node.op_type


def _check_standard(
    node: onnx.NodeProto, analysis: _Graph, document: dict[str, Any], version: tuple[int, ...]
) -> Iterator[tuple[Severity, str]]:
    support = load_support()
    if node.op_type in document["unsupported"]:
        yield "error", "operator not supported by this TensorRT release's ONNX parser"
        return
    if node.op_type not in document["supported"]:
        yield "error", "operator not listed in this TensorRT release's supported-operator table"
        return
    attributes = {a.name: onnx.helper.get_attribute_value(a) for a in node.attribute}
    for rule in support["attribute_rules"]:
        if rule["op"] != node.op_type or rule["attribute"] not in attributes:
            continue
        value = attributes[rule["attribute"]]
        value = value.decode() if isinstance(value, bytes) else value
        allowed = rule["allowed"]
        if allowed == "all_ones":
            if any(v != 1 for v in value):
                yield "error", f"{rule['attribute']}={list(value)} must be all ones ({rule['source']})"
        elif value not in allowed:
            shown = ", ".join(map(str, allowed)) or "none (attribute unsupported)"
            yield "error", f"{rule['attribute']}={value!r} unsupported; allowed: {shown} ({rule['source']})"
    for rule in support["constant_inputs"]:
        if rule["op"] != node.op_type or not _applies(rule, version):
            continue
        index = rule["input"]
        if index < len(node.input) and node.input[index]:
            if not analysis.is_constant(node.input[index], rule["kind"]):
                need = "an initializer" if rule["kind"] == "initializer" else "a build-time constant"
                yield "error", f"input {rule['name']!r} must be {need} ({rule['source']})"


_QDQ_TYPES = ("INT8", "FLOAT8E4M3FN", "INT4")


def _check_quantize(node: onnx.NodeProto, analysis: _Graph) -> Iterator[tuple[Severity, str]]:
    """TensorRT's explicit quantization: constant scales, zero points absent or zero in a type it runs,
    per-tensor scales on activations (per-axis only for weights)."""
    scale = node.input[1] if len(node.input) > 1 else ""
    if not scale or not analysis.is_constant(scale, "initializer"):
        yield "error", "scale must be a constant (initializer or Constant)"
    zero_point = node.input[2] if len(node.input) > 2 else ""
    if zero_point and zero_point in analysis.arrays:
        tensor = analysis.arrays[zero_point]
        dtype = onnx.TensorProto.DataType.Name(tensor.data_type)
        if dtype not in _QDQ_TYPES:
            yield "error", (f"zero point of type {dtype}: TensorRT quantizes to {', '.join(_QDQ_TYPES)} only "
                            "(u8/s32 Q/DQ is ONNX Runtime style; export for a TensorRT target instead)")
        elif numpy_helper.to_array(tensor).any():
            yield "error", "nonzero zero point: TensorRT supports symmetric quantization only"
    if node.op_type == "QuantizeLinear" and scale in analysis.arrays:
        per_axis = numpy_helper.to_array(analysis.arrays[scale]).size > 1
        if per_axis and not analysis.is_constant(node.input[0], "initializer"):
            yield "error", "per-axis scales on an activation: TensorRT quantizes activations per tensor"


def _check_plugin_attributes(
    node: onnx.NodeProto, version: tuple[int, ...]
) -> Iterator[tuple[Severity, str]]:
    plugins = load_support()["plugins"]
    for attribute in node.attribute:
        kind = onnx.AttributeProto.AttributeType.Name(attribute.type)
        facts = plugins["attribute_types"].get(kind, {"passed": False})
        if not facts["passed"]:
            yield "error", f"attribute {attribute.name!r} of type {kind} is rejected by the parser"
            continue
        if kind == "TENSOR":
            dtype = onnx.TensorProto.DataType.Name(attribute.t.data_type)
            if dtype not in plugins["tensor_types_passed"]:
                yield "error", f"tensor attribute {attribute.name!r} of type {dtype} is rejected"
                continue
        if kind in ("INT", "INTS"):
            values = [attribute.i] if kind == "INT" else list(attribute.ints)
            if any(v < _INT32_MIN or v > _INT32_MAX for v in values):
                yield "error", f"attribute {attribute.name!r} does not fit in int32 (parser narrows it)"
        if kind not in plugins["edgeattn_attribute_types"]:
            allowed = ", ".join(plugins["edgeattn_attribute_types"])
            yield "warning", f"attribute {attribute.name!r} is {kind}; edgeattn plugins use {allowed}"
    names = {a.name: a for a in node.attribute}
    namespace = names.get("plugin_namespace")
    fallback = version >= parse_version(plugins["namespace_from_domain_since"])
    if namespace is None:
        if fallback and node.domain == _EDGEATTN_DOMAIN:
            yield "warning", "no plugin_namespace attribute; relying on the node domain as namespace"
        else:
            yield "error", "no plugin_namespace attribute: the parser would look in the empty namespace"
    elif namespace.s.decode() != _EDGEATTN_DOMAIN:
        yield "error", f"plugin_namespace={namespace.s.decode()!r}; edgeattn plugins register 'edgeattn'"
    if "plugin_version" not in names:
        yield "info", "no plugin_version attribute; the parser assumes '1'"


def _check_edgeattn(node: onnx.NodeProto, version: tuple[int, ...]) -> Iterator[tuple[Severity, str]]:
    from edgeattn.ops.registry import all_ops

    op_defs = {o.name: o for o in all_ops()}
    op_def = op_defs.get(node.op_type)
    if op_def is None:
        yield "error", "edgeattn op without a spec in the catalogue: no plugin will exist for it"
        return
    yield from _check_plugin_attributes(node, version)
    declared = {a for a in op_def.schema.attributes}
    required = {name for name, a in op_def.schema.attributes.items() if a.required}
    present = {a.name for a in node.attribute}
    for name in sorted(present - set(declared)):
        yield "warning", f"attribute {name!r} is not a field of the plugin: the parser drops it"
    for name in sorted(required - present):
        yield "error", f"required attribute {name!r} is missing"
    version_attr = next((a for a in node.attribute if a.name == "plugin_version"), None)
    if version_attr is not None and version_attr.s.decode() != str(op_def.version):
        yield "error", f"plugin_version={version_attr.s.decode()!r}; the catalogue has {op_def.version}"


def _lint_version(model: onnx.ModelProto, version_text: str) -> Iterator[tuple[str, str, Severity, str]]:
    document_name, document, confirmed, note = _release(version_text)
    version = parse_version(version_text)
    if not confirmed:
        reason = f"TensorRT {version_text}: facts from the {document_name} operator table ({note})"
        yield "", "", "info", reason
    opset = next((o.version for o in model.opset_import if o.domain in _STANDARD_DOMAINS), None)
    low, high = document["opset"]
    if opset is not None and not low <= opset <= high:
        yield "", "", "error", f"default-domain opset {opset} outside the parser's range {low}..{high}"
    functions = {(f.domain, f.name) for f in model.functions}
    for index, (node, analysis) in enumerate(_nodes(model.graph)):
        label, op = _node_label(node, index), _op_label(node)
        if node.domain in _STANDARD_DOMAINS:
            checks = _check_standard(node, analysis, document, version)
            if node.op_type in ("QuantizeLinear", "DequantizeLinear"):
                checks = itertools.chain(checks, _check_quantize(node, analysis))
        elif node.domain == _EDGEATTN_DOMAIN:
            checks = _check_edgeattn(node, version)
        elif (node.domain, node.op_type) in functions:
            checks = iter([("info", "model local function: the parser inlines its body")])
        else:
            checks = iter([("error", f"custom domain {node.domain!r} has no edgeattn spec or known plugin")])
        for severity, reason in checks:
            yield label, op, severity, reason
    for function in model.functions:
        for index, node in enumerate(function.node):
            if node.domain in _STANDARD_DOMAINS and node.op_type not in document["supported"]:
                label = f"{function.name}/{_node_label(node, index)}"
                yield label, _op_label(node), "error", "operator in a local function is not supported"


def lint(model: onnx.ModelProto, trt_versions: list[str]) -> LintReport:
    """Check `model` against the ONNX parser of each TensorRT release in `trt_versions`.

    Findings with the same node, op, severity and reason are merged across releases.
    """
    if not trt_versions:
        raise UsageError("No TensorRT version to lint for.", "Pass e.g. ['10.3', '10.16', '11'].")
    merged: dict[tuple[str, str, Severity, str], list[str]] = {}
    for version in trt_versions:
        for key in _lint_version(model, version):
            versions = merged.setdefault(key, [])
            if version not in versions:
                versions.append(version)
    findings = [
        Finding(node=node, op=op, severity=severity, reason=reason, trt_versions=versions)
        for (node, op, severity, reason), versions in merged.items()
    ]
    return LintReport(trt_versions=list(trt_versions), findings=findings)


def unsupported_example_model() -> onnx.ModelProto:
    """A tiny model with deliberately unsupported nodes (Unique; Resize cubic) for tests and docs."""
    helper = onnx.helper
    x = helper.make_tensor_value_info("x", onnx.TensorProto.FLOAT, [1, 3, 4, 4])
    y = helper.make_tensor_value_info("y", onnx.TensorProto.FLOAT, [1, 3, 8, 8])
    u = helper.make_tensor_value_info("u", onnx.TensorProto.FLOAT, None)
    scales = helper.make_tensor("scales", onnx.TensorProto.FLOAT, [4], [1.0, 1.0, 2.0, 2.0])
    nodes = [
        helper.make_node("Resize", ["x", "", "scales"], ["y"], name="resize_cubic", mode="cubic"),
        helper.make_node("Unique", ["x"], ["u"], name="unique", sorted=1),
    ]
    graph = helper.make_graph(nodes, "unsupported_example", [x], [y, u], initializer=[scales])
    return helper.make_model(graph, opset_imports=[helper.make_opsetid("", 18)])
