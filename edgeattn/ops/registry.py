"""The op registry: one `OpDef` per op folder, and what the exporter needs from all of them."""

from __future__ import annotations

import importlib
from collections import Counter
from collections.abc import Callable
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
    (`edgeattn.plugins.launches.PluginLaunch`, one per accepted I/O type combination).
    case_attributes(case): the plugin node attributes of a spec.yaml case, INT8 scales included
    (so a case's launches are `node_launches(case_attributes(case), shapes of spec.inputs)`).
    enqueue_case(case, io_types, batch, device): the GPU enqueue check of one accepted type combination
    (`edgeattn.plugins.enqueue.EnqueueCase`: inputs, fields, reference, Triton launch). None: only the
    float combinations of the spec inputs are checked (`edgeattn.plugins.enqueue.float_case`).
    """

    node_launches: Callable[[dict[str, Any], list[list[Any]]], list[Any]]
    case_attributes: Callable[[Any], dict[str, Any]]
    enqueue_case: Callable[[Any, tuple[str, ...], int, str], Any] | None = None


@dataclass(frozen=True)
class OpDef:
    """Everything edgeattn knows about one op.

    torch_op: the `torch.library` custom op (`torch.ops.edgeattn.<folder>`), one node in export.
    reference: the fp32 PyTorch function (the truth).
    portable / plugin: onnxscript-traced translation functions (standard ops / one edgeattn node).
    evaluator: the `OpRun` class running the plugin node in `onnx.reference.ReferenceEvaluator`.
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
    version: int = VERSION
    domain: str = DOMAIN
    plugin_kernels: PluginKernels | None = None

    @cached_property
    def spec(self) -> OpSpec:
        """The op's spec.yaml (shapes, attributes, tolerances, used-by models)."""
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
    """The op called `name` (ONNX op type such as "SingleHeadAttention" or its folder name)."""
    for op_def in all_ops():
        if name in (op_def.name, op_def.folder):
            return op_def
    known = ", ".join(o.name for o in all_ops())
    raise UsageError(f"Unknown edgeattn op {name!r}.", f"Use one of: {known}.")


def translation_table(flavour: Flavour) -> dict[Any, Callable[..., Any]]:
    """`custom_translation_table` for `torch.onnx.export(..., dynamo=True)`.

    "portable" decomposes each op into standard ONNX ops; "plugins" emits one edgeattn node per call.
    """
    if flavour not in FLAVOURS:
        raise UsageError(f"Unknown ONNX flavour {flavour!r}.", f"Use one of: {', '.join(FLAVOURS)}.")
    return {
        o.overload: (o.portable if flavour == "portable" else o.plugin) for o in all_ops()
    }


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
        return [_plain(v) for v in value]
    return value
