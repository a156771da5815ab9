"""Host-test requests for every spec.yaml case of every op with a plugin (its first accepted I/O types;
the optional inputs a case gives, after the required ones)."""

from __future__ import annotations

from typing import Any

from plugin_helpers import Request


def attribute_kind(value: Any) -> str:
    """The ONNX attribute type a Python value is exported as."""
    if isinstance(value, list):
        return "INTS" if value and all(isinstance(v, int) for v in value) else "FLOATS"
    if isinstance(value, str):
        return "STRING"
    return "INT" if isinstance(value, int) and not isinstance(value, bool) else "FLOAT"


def plugin_ops() -> list[Any]:
    from edgeattn.ops import all_ops

    return [op for op in all_ops() if op.plugin_kernels is not None]


SCHEMA_TYPES = {"tensor(float)": "kFLOAT", "tensor(bool)": "kBOOL", "tensor(int32)": "kINT32",
                "tensor(int64)": "kINT64", "tensor(int8)": "kINT8"}


def case_inputs(op: Any, case: Any) -> list[str]:
    """The inputs a case wires, in node order: the required ones, then the optional ones it gives."""
    return [name for name in (*op.spec.inputs, *op.spec.optional_inputs) if name in case.shapes]


def input_type(op: Any, name: str) -> str:
    """TensorRT type of input `name` in a fp32 graph: kFLOAT where the schema allows float, else its type."""
    schema_input = next(i for i in op.schema.inputs if i.name == name)
    constraints = {c.type_param_str: list(c.allowed_type_strs) for c in op.schema.type_constraints}
    allowed = constraints.get(schema_input.type_str, [schema_input.type_str])
    return "kFLOAT" if "tensor(float)" in allowed else SCHEMA_TYPES[allowed[0]]


def spec_request(op: Any, case: Any) -> Request:
    """The case's shapes with the plugin's first accepted input types (fp32 floats)."""
    from edgeattn.plugins.graph import case_inputs, case_launches

    types = case_launches(op, case)[0].io_types
    attributes = {name: (attribute_kind(v), v) for name, v in op.plugin_kernels.case_attributes(case).items()}
    attributes.update({"plugin_version": ("STRING", "1"), "plugin_namespace": ("STRING", "edgeattn")})
    inputs = [(kind, list(tensor.shape)) for kind, tensor in zip(types, case_inputs(op, case), strict=False)]
    return Request(f"spec:{op.name}:{case.id}", op.name, inputs, attributes)


def spec_requests() -> list[Request]:
    return [spec_request(op, case) for op in plugin_ops() for case in op.spec.cases]
