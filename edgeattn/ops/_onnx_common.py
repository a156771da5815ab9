"""Shared pieces of every op's ONNX form: the edgeattn domain, schema registration, fp32 casts.

Portable and plugin functions are plain Python functions written with onnxscript ops; the
torch.onnx dynamo exporter traces them (as a `custom_translation_table` entry) into graph nodes.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import onnx
import onnxscript
from onnx.defs import OpSchema
from onnxscript import ir
from onnxscript import opset18 as op

DOMAIN = "edgeattn"
VERSION = 1
PLUGIN_NAMESPACE = "edgeattn"
PLUGIN_VERSION = "1"
PLUGIN_ATTRIBUTES = {"plugin_namespace": PLUGIN_NAMESPACE, "plugin_version": PLUGIN_VERSION}
FLOAT_TYPES = ["tensor(float)", "tensor(float16)", "tensor(bfloat16)"]

_ATTR_TYPES = {
    int: OpSchema.AttrType.INT,
    float: OpSchema.AttrType.FLOAT,
    str: OpSchema.AttrType.STRING,
}


@dataclass(frozen=True)
class Input:
    """One input of an edgeattn op schema."""

    name: str
    type_var: str = "T"
    doc: str = ""
    optional: bool = False


@dataclass(frozen=True)
class Attribute:
    """One attribute of an edgeattn op schema (INT, FLOAT or STRING only: what TensorRT passes)."""

    name: str
    kind: type
    doc: str = ""
    required: bool = True


def register_schema(
    name: str,
    doc: str,
    inputs: Sequence[Input],
    attributes: Sequence[Attribute],
    type_constraints: Sequence[tuple[str, list[str], str]] = (("T", FLOAT_TYPES, "float tensors"),),
) -> OpSchema:
    """Register (once) and return the ONNX schema of `edgeattn::<name>` version 1.

    Every schema also declares the TensorRT plugin attributes `plugin_namespace`/`plugin_version`.
    """
    if onnx.defs.has(name, VERSION, DOMAIN):
        return onnx.defs.get_schema(name, VERSION, DOMAIN)
    formal_inputs = [
        OpSchema.FormalParameter(
            item.name,
            item.type_var,
            item.doc,
            param_option=(
                OpSchema.FormalParameterOption.Optional
                if item.optional
                else OpSchema.FormalParameterOption.Single
            ),
        )
        for item in inputs
    ]
    schema_attributes = [
        OpSchema.Attribute(item.name, _ATTR_TYPES[item.kind], item.doc, required=item.required)
        for item in attributes
    ] + [
        OpSchema.Attribute(
            "plugin_namespace", OpSchema.AttrType.STRING, "TensorRT plugin namespace", required=False
        ),
        OpSchema.Attribute(
            "plugin_version", OpSchema.AttrType.STRING, "TensorRT plugin version", required=False
        ),
    ]
    schema = OpSchema(
        name,
        DOMAIN,
        VERSION,
        doc=doc,
        inputs=formal_inputs,
        outputs=[OpSchema.FormalParameter("out", "T", "result")],
        type_constraints=list(type_constraints),
        attributes=schema_attributes,
    )
    onnx.defs.register_schema(schema)
    return schema


def edgeattn_opset() -> onnxscript.values.Opset:
    """The onnxscript opset of the edgeattn domain (schemas must be registered first)."""
    return onnxscript.values.Opset(DOMAIN, VERSION)


def to_float(x):
    """Cast an onnxscript value to fp32 unless it already is."""
    return x if x.dtype == ir.DataType.FLOAT else op.Cast(x, to=onnx.TensorProto.FLOAT)


def cast_like_input(x, like):
    """Cast fp32 `x` back to the dtype of `like` (no node when it already matches)."""
    if like.dtype == ir.DataType.FLOAT:
        return x
    return op.Cast(x, to=int(like.dtype))


def static_dim(x, axis: int, what: str) -> int:
    """The static size of `x` along `axis`; raise a clear error when it is symbolic."""
    from edgeattn.errors import UsageError

    dim = x.shape[axis] if x.shape is not None else None
    if not isinstance(dim, int):
        raise UsageError(
            f"{what} needs a static size on axis {axis}, got {dim!r}.",
            "Export with a static size on that axis (channels and heads are never dynamic).",
        )
    return dim
