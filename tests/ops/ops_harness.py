"""Shared checks for the edgeattn op tests: inputs, a one-op module, both ONNX flavours."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

import numpy as np
import onnx
import torch
from hypothesis import HealthCheck, settings
from torch import nn

from edgeattn.ops import OpDef
from onnx_helpers import export_flavour, run_plugins, run_portable

SEED = 42
FLAVOURS = ("portable", "plugins")
FUZZ = settings(
    max_examples=12, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
"""Hypothesis settings of the portable-decomposition fuzz tests (the dynamic export is a fixture)."""


def spec_cases(op_def: OpDef) -> dict[str, tuple[dict[str, Any], dict[str, Any]]]:
    """The op's spec.yaml cases as {case id: (shapes, attributes)}."""
    return {c.id: (c.shapes, c.attributes) for c in op_def.spec.test_cases}


def random_inputs(shapes: dict[str, Sequence[int]], seed: int = SEED) -> dict[str, torch.Tensor]:
    """Seeded inputs for the named shapes; `key_mask` is bool with key 0 always valid."""
    generator = torch.Generator().manual_seed(seed)
    tensors = {}
    for name, shape in shapes.items():
        if name == "key_mask":
            mask = torch.rand(*shape, generator=generator) > 0.3
            mask[..., 0] = True
            tensors[name] = mask
        elif name.startswith("w_"):
            tensors[name] = torch.randn(*shape, generator=generator) / max(shape[-2:])
        else:
            tensors[name] = torch.randn(*shape, generator=generator)
    return tensors


class OpCall(nn.Module):
    """Calls the op's torch custom op on its tensor inputs, attributes fixed at construction."""

    def __init__(self, op_def: OpDef, input_names: Sequence[str], attributes: dict[str, Any]):
        super().__init__()
        self.op_def = op_def
        self.input_names = list(input_names)
        self.attributes = dict(attributes)

    def forward(self, *tensors: torch.Tensor) -> torch.Tensor:
        named = dict(zip(self.input_names, tensors, strict=True))
        return self.op_def.torch_op(**named, **self.attributes)


def reference(op_def: OpDef, inputs: dict[str, torch.Tensor], attributes: dict[str, Any]) -> np.ndarray:
    return op_def.reference(**inputs, **attributes).numpy()


def export_op(
    op_def: OpDef, inputs: dict[str, torch.Tensor], attributes: dict[str, Any], flavour: str
) -> onnx.ModelProto:
    module = OpCall(op_def, list(inputs), attributes)
    return export_flavour(module, tuple(inputs.values()), flavour)


def run_op(model: onnx.ModelProto, flavour: str, inputs: dict[str, torch.Tensor]) -> np.ndarray:
    arrays = [t.numpy() for t in inputs.values()]
    run = run_portable if flavour == "portable" else run_plugins
    return run(model, arrays)[0]


def assert_matches(op_def: OpDef, actual: np.ndarray, expected: np.ndarray) -> None:
    tolerance = op_def.spec.tolerances["fp32"]
    assert actual.shape == expected.shape
    assert np.isfinite(actual).all()
    np.testing.assert_allclose(actual, expected, atol=tolerance.atol, rtol=tolerance.rtol)


class MultiCaseCall(nn.Module):
    """Calls the op once per case, so one export covers every case (outputs in case order)."""

    def __init__(self, op_def: OpDef, cases: dict[str, tuple[dict[str, Any], dict[str, Any]]]):
        super().__init__()
        self.calls = nn.ModuleList(
            OpCall(op_def, list(shapes), attributes) for shapes, attributes in cases.values()
        )
        self.arity = [len(shapes) for shapes, _ in cases.values()]

    def forward(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        outputs, start = [], 0
        for call, arity in zip(self.calls, self.arity, strict=True):
            outputs.append(call(*tensors[start : start + arity]))
            start += arity
        return tuple(outputs)


class CaseRun:
    """Every case of an op exported once per flavour and run; results looked up by case id."""

    def __init__(
        self,
        op_def: OpDef,
        cases: dict[str, tuple[dict[str, Any], dict[str, Any]]],
        overrides: dict[str, dict[str, torch.Tensor]] | None = None,
    ):
        self.op_def, self.cases = op_def, cases
        self.inputs = {cid: random_inputs(shapes) for cid, (shapes, _) in cases.items()}
        for case_id, tensors in (overrides or {}).items():
            self.inputs[case_id].update(tensors)
        self.models: dict[str, onnx.ModelProto] = {}
        self.outputs: dict[str, dict[str, np.ndarray]] = {}

    def model(self, flavour: str) -> onnx.ModelProto:
        if flavour not in self.models:
            flat = tuple(t for inputs in self.inputs.values() for t in inputs.values())
            self.models[flavour] = export_flavour(MultiCaseCall(self.op_def, self.cases), flat, flavour)
            arrays = [t.numpy() for t in flat]
            run = run_portable if flavour == "portable" else run_plugins
            results = run(self.models[flavour], arrays)
            self.outputs[flavour] = dict(zip(self.cases, results, strict=True))
        return self.models[flavour]

    def check(self, case_id: str, flavour: str) -> None:
        self.model(flavour)
        _, attributes = self.cases[case_id]
        expected = reference(self.op_def, self.inputs[case_id], attributes)
        assert_matches(self.op_def, self.outputs[flavour][case_id], expected)

    def check_all(self, flavour: str) -> None:
        """Check every case; the failure message names each case that does not match."""
        failures = []
        for case_id in self.cases:
            try:
                self.check(case_id, flavour)
            except AssertionError as error:
                failures.append(f"{case_id}: {error}")
        assert not failures, "\n".join(failures)

    def check_flavour(self, flavour: str) -> None:
        """Every case matches; the graph is portable, or one plugin node per case."""
        self.check_all(flavour)
        model = self.model(flavour)
        if flavour == "portable":
            assert_portable_graph(model)
        else:
            assert_plugin_nodes(model, self.op_def.name, len(self.cases))


def node_kinds(model: onnx.ModelProto) -> set[tuple[str, str]]:
    return {(n.domain, n.op_type) for n in model.graph.node}


def assert_portable_graph(model: onnx.ModelProto) -> None:
    domains = {n.domain for n in model.graph.node}
    assert domains <= {"", "ai.onnx"}, domains
    assert not model.functions


def assert_plugin_nodes(model: onnx.ModelProto, op_type: str, count: int) -> None:
    """`count` edgeattn nodes of `op_type` with TensorRT plugin attributes, nothing decomposed."""
    custom = [n for n in model.graph.node if n.domain == "edgeattn"]
    assert [n.op_type for n in custom] == [op_type] * count
    allowed = {onnx.AttributeProto.INT, onnx.AttributeProto.FLOAT, onnx.AttributeProto.STRING}
    for node in custom:
        attributes = {a.name: a for a in node.attribute}
        assert attributes["plugin_namespace"].s == b"edgeattn"
        assert attributes["plugin_version"].s == b"1"
        assert all(a.type in allowed for a in node.attribute)
    leftovers = {n.op_type for n in model.graph.node if n.domain != "edgeattn"}
    assert leftovers <= {"Identity", "Cast", "Reshape", "Unsqueeze", "Squeeze"}, leftovers


def check_portable(
    op_def: OpDef, model: onnx.ModelProto, inputs: dict[str, torch.Tensor], attributes: dict[str, Any]
) -> None:
    """The portable `model` run on `inputs` matches the reference."""
    assert_matches(op_def, run_op(model, "portable", inputs), reference(op_def, inputs, attributes))


def export_dynamic(
    op_def: OpDef,
    inputs: dict[str, torch.Tensor],
    attributes: dict[str, Any],
    dims: dict[str, dict[int, Any]],
) -> onnx.ModelProto:
    """Portable export with the given dynamic dims per input name (for shape fuzzing in ORT)."""
    module = OpCall(op_def, list(inputs), attributes)
    dynamic = (tuple(dims.get(name) for name in inputs),)
    return export_flavour(module, tuple(inputs.values()), "portable", dynamic_shapes=dynamic)
