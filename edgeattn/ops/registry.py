"""The op registry: one `OpDef` per op folder, and what the exporter needs from all of them."""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable, Iterable
from dataclasses import dataclass
from functools import cache, cached_property
from pathlib import Path
from typing import Any, Literal

import onnx
from onnx.reference.op_run import OpRun

from edgeattn.errors import UsageError
from edgeattn.ops._onnx_common import DOMAIN, VERSION
from edgeattn.ops.spec import OpSpec, load_spec

Flavour = Literal["portable", "plugins"]
FLAVOURS: tuple[Flavour, ...] = ("portable", "plugins")
_OPS_DIR = Path(__file__).parent


@dataclass(frozen=True)
class PluginKernels:
    """How an op's TensorRT plugin (`<op>/plugin/`) launches its AOT-compiled Triton kernels.

    node_launches(attributes, input_shapes): every launch the plugin may make for one graph node
    (`edgeattn.kernels.launches.PluginLaunch`, one per accepted I/O type combination).
    case_attributes(case): the plugin node attributes of a spec.yaml case, INT8 scales included
    (so a case's launches are `node_launches(case_attributes(case), shapes of spec.inputs)`).
    enqueue_case(case, io_types, batch, device): the GPU enqueue check of one accepted type combination
    (`edgeattn.ops.enqueue.EnqueueCase`: inputs, fields, reference, Triton launch). None: only the
    float combinations of the spec inputs are checked (`edgeattn.ops.enqueue.float_case`).
    """

    node_launches: Callable[[dict[str, Any], list[list[Any]]], list[Any]]
    case_attributes: Callable[[Any], dict[str, Any]]
    enqueue_case: Callable[[Any, tuple[str, ...], int, str], Any] | None = None


@dataclass(frozen=True)
class ModuleSwap:
    """A model module class this op replaces with a module calling the op (same weights, same function).

    `source` and `replacement` are "package.module:Class" paths, imported only when a model is rewritten.
    This is the one place a model family is linked to an op: `edgeattn models` lists the ops whose swaps
    match a model, and the rewrite applies them.
    """

    source: str
    replacement: str

    def source_class(self) -> type:
        return _load(self.source)

    def build(self, module: Any) -> Any:
        """The replacement module for `module` (an instance of exactly `source_class()`)."""
        return _load(self.replacement)(module)


@dataclass(frozen=True)
class OpCost:
    """Useful work of one op call: FLOPs (multiply-add = 2) and the elements an ideal kernel reads and writes
    (each input once, the output once; bytes follow from the element sizes)."""

    flops: float
    input_elements: int
    output_elements: int

    @property
    def elements(self) -> int:
        return self.input_elements + self.output_elements


@dataclass(frozen=True)
class Int8Support:
    """How the op takes INT8: its first `quantized_inputs` inputs get Q/DQ in INT8 graphs, and (when
    `head_scales`) its plugin node carries per-head scales as `int8_<tensor>_scales` FLOATS attributes."""

    quantized_inputs: int
    head_scales: bool = False


@dataclass(frozen=True)
class OpDef:
    """Everything edgeattn knows about one op; nothing outside the op's folder names the op.

    torch_op: the `torch.library` custom op (`torch.ops.edgeattn.<folder>`), one node in export.
    reference: the fp32 PyTorch function (the truth).
    portable / plugin: onnxscript-traced translation functions (standard ops / one edgeattn node).
    evaluator: the `OpRun` class running the plugin node in `onnx.reference.ReferenceEvaluator`.
    swaps: the model modules the op replaces (see `ModuleSwap`).
    cost: FLOPs and bytes of one call from its input shapes and attributes (roofline and kernel benchmark).
    make_inputs: (spec case, dtype, batch, generator) -> (positional inputs, keyword inputs and attributes),
        the tensors of one call for kernel tests and benchmarks.
    batched_inputs: inputs whose dim 0 scales with the batch (for `cost` and `make_inputs`).
    capture: calibration statistics of one call (its positional args and attributes) as head-major tensors
        q, k [B, H, N, Dqk], v, o [B, H, N, Dv], p [B, H, N, M] (p absent for linear attention).
    int8: INT8 inputs and per-head scales of the plugin node (None: no INT8 path).
    fp32_island_ops: op types of the portable decomposition that stay fp32 in fp16 graphs, with the reason.
    profile_kind: the kind the profiler's block breakdown gives the op's nodes.
    benchmark_variants: extra implementations the kernel benchmark times for a case (SDPA, INT8 kernels):
        (name, callable, ideal bytes) triples.
    plugin_kernels: the kernel launches of the op's TensorRT plugin (None: the op has no plugin yet).
    """

    name: str
    folder: str
    torch_op: Any
    reference: Callable[..., Any]
    portable: Callable[..., Any]
    plugin: Callable[..., Any]
    evaluator: type[OpRun]
    schema: onnx.defs.OpSchema
    cost: Callable[[dict[str, tuple[int, ...]], dict[str, Any]], OpCost]
    make_inputs: Callable[..., tuple[tuple[Any, ...], dict[str, Any]]]
    batched_inputs: tuple[str, ...]
    swaps: tuple[ModuleSwap, ...] = ()
    capture: Callable[..., dict[str, Any]] | None = None
    int8: Int8Support | None = None
    fp32_island_ops: tuple[frozenset[str], str] | None = None
    profile_kind: str = "attention"
    benchmark_variants: Callable[[Any], list[tuple[str, Any, int]]] | None = None
    plugin_kernels: PluginKernels | None = None
    version: int = VERSION
    domain: str = DOMAIN

    @cached_property
    def spec(self) -> OpSpec:
        """The op's spec.yaml (shapes, attributes, tolerances, cases)."""
        return load_spec(_OPS_DIR / self.folder / "spec.yaml")

    @property
    def plugin_dir(self) -> Path | None:
        """`<op>/plugin/`, whose *.cpp the plugin library builds (None when the op has no plugin)."""
        folder = _OPS_DIR / self.folder / "plugin"
        return folder if any(folder.glob("*.cpp")) else None

    @property
    def overload(self) -> Any:
        """The OpOverload the torch.onnx translation table is keyed by."""
        return self.torch_op._opoverload

    @property
    def qualified_name(self) -> str:
        """`edgeattn.<folder>.default`: how the exporter names the op in each node's class hierarchy."""
        return f"{DOMAIN}.{self.folder}.default"

    def module(self, name: str) -> Any:
        """A submodule of the op's folder, e.g. `op.module("triton")`."""
        return importlib.import_module(f"edgeattn.ops.{self.folder}.{name}")


def _load(path: str) -> Any:
    module, _, attribute = path.partition(":")
    return getattr(importlib.import_module(module), attribute)


@cache
def _discover() -> tuple[OpDef, ...]:
    ops = []
    for folder in sorted(p.parent.name for p in _OPS_DIR.glob("*/spec.yaml")):
        module = importlib.import_module(f"edgeattn.ops.{folder}")
        op_def = getattr(module, "OP_DEF", None)
        if isinstance(op_def, OpDef):
            ops.append(op_def)
    return tuple(ops)


def all_ops() -> list[OpDef]:
    """Every op with a complete folder (spec.yaml and an `OP_DEF` in its `__init__`), by name."""
    return sorted(_discover(), key=lambda o: o.name)


def get_op(name: str) -> OpDef:
    """The op called `name` (its ONNX op type, or its folder name)."""
    for op_def in all_ops():
        if name in (op_def.name, op_def.folder):
            return op_def
    known = ", ".join(o.name for o in all_ops())
    raise UsageError(f"Unknown edgeattn op {name!r}.", f"Use one of: {known}.")


def translation_table(flavour: Flavour, *, deployable: bool = False) -> dict[Any, Callable[..., Any]]:
    """`custom_translation_table` for `torch.onnx.export(..., dynamo=True)`.

    "portable" decomposes each op into standard ONNX ops; "plugins" emits one edgeattn node per call.
    `deployable` (the exporter's plugin graphs, which TensorRT builds): an op without a TensorRT plugin
    (`plugin_kernels` None) is emitted as its portable decomposition in the plugins flavour too.
    """
    if flavour not in FLAVOURS:
        raise UsageError(f"Unknown ONNX flavour {flavour!r}.", f"Use one of: {', '.join(FLAVOURS)}.")
    return {o.overload: o.plugin if flavour == "plugins" and (o.plugin_kernels or not deployable) else o.portable
            for o in all_ops()}


def plugin_graph_ops(names: Iterable[str]) -> dict[str, list[str]]:
    """How the ops `names` run in a deployable plugins graph: "plugin" (one node per call, run by the op's
    TensorRT plugin) or "portable" (no plugin yet: the op's standard-ONNX decomposition), sorted."""
    ops = [get_op(name) for name in names]
    return {"plugin": sorted(o.name for o in ops if o.plugin_kernels is not None),
            "portable": sorted(o.name for o in ops if o.plugin_kernels is None)}


def evaluator_ops() -> list[type[OpRun]]:
    """`new_ops` for `onnx.reference.ReferenceEvaluator`: every edgeattn op from the reference math."""
    return [o.evaluator for o in all_ops()]


def ops_used(model: onnx.ModelProto) -> list[dict[str, Any]]:
    """The edgeattn nodes of `model`, grouped by op type and attribute values, for the manifest."""
    versions = {imp.domain: imp.version for imp in model.opset_import}
    counts: Counter[tuple[str, tuple[tuple[str, Any], ...]]] = Counter()
    for node in _all_nodes(model):
        if node.domain != DOMAIN:
            continue
        attributes = tuple(
            sorted((a.name, _plain(onnx.helper.get_attribute_value(a))) for a in node.attribute)
        )
        counts[(node.op_type, attributes)] += 1
    return [
        {
            "op_type": op_type,
            "domain": DOMAIN,
            "version": versions.get(DOMAIN, VERSION),
            "attributes": dict(attributes),
            "count": count,
        }
        for (op_type, attributes), count in sorted(counts.items(), key=lambda kv: repr(kv[0]))
    ]


def _all_nodes(model: onnx.ModelProto):
    yield from model.graph.node
    for function in model.functions:
        yield from function.node


def _plain(value: Any) -> Any:
    if isinstance(value, bytes):
        return value.decode()
    if isinstance(value, list):
        return tuple(_plain(v) for v in value)
    return value


CLASS_HIERARCHY_KEY = "pkg.torch.onnx.class_hierarchy"


def node_op(node: onnx.NodeProto) -> OpDef | None:
    """The op an exported node implements: an edgeattn plugin node, or a node of an op's portable
    decomposition (the exporter records `edgeattn.<folder>.default` last in its class hierarchy)."""
    if node.domain == DOMAIN:
        return next((o for o in all_ops() if o.name == node.op_type), None)
    hierarchy = next((p.value for p in node.metadata_props if p.key == CLASS_HIERARCHY_KEY), "")
    if DOMAIN not in hierarchy:
        return None
    return next((o for o in all_ops() if f"'{o.qualified_name}'" in hierarchy), None)
