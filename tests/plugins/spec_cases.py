"""Host-test requests for every spec.yaml case of every op with a plugin (fp32 inputs)."""

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


def spec_request(op: Any, case: Any) -> Request:
    attributes = {name: (attribute_kind(v), v) for name, v in op.plugin_kernels.case_attributes(case).items()}
    attributes.update({"plugin_version": ("STRING", "1"), "plugin_namespace": ("STRING", "edgeattn")})
    inputs = [("kFLOAT", list(case.shapes[name])) for name in op.spec.inputs]
    return Request(f"spec:{op.name}:{case.id}", op.name, inputs, attributes)


def spec_requests() -> list[Request]:
    return [spec_request(op, case) for op in plugin_ops() for case in op.spec.cases]
