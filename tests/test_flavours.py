"""Both ONNX flavours of the rewritten seed models: structure, parity with torch, determinism, TRT lint."""

from __future__ import annotations

import functools
from collections import Counter

import numpy as np
import onnx
import pytest
import timm
import torch
from torch.utils._python_dispatch import TorchDispatchMode

from edgeattn.exporters.trt_lint import lint
from edgeattn.ops import ops_used
from onnx_helpers import export_flavour, run_flavour
from edgeattn.backbones.weights import randomize_zero_init as perturb_for_parity
from edgeattn.ops.rewrite import rewrite_model
from edgeattn.tolerances import MODEL_FP32_MIN_COSINE, model_fp32_atol

SEED = 42
RESOLUTION = 128
SEED_MODELS = {
    "shvit_s4": "SingleHeadAttention",
    "lowformer_b1": "MultiHeadAttention",
    "efficientvit_b1": "ReLULinearAttention",
    "efficientvit_m4": "MultiHeadAttention",
    "ghostnetv2_100": "DFCAttention",
}
FLAVOURS = ("portable", "plugins")
TRT_VERSIONS = ["10.3", "10.16", "11"]
WEIGHT_INPUTS = {"DFCAttention": (1, 2, 3, 4), "MultiHeadAttention": (3,)}
"""Inputs that carry weights (DFC folded convs, EfficientViT-M position bias): must be initializers."""
REPEATED_EXPORTS = {("efficientvit_b1", "plugins"), ("ghostnetv2_100", "portable")}


class CountEdgeattnCalls(TorchDispatchMode):
    """Counts calls of `torch.ops.edgeattn.*` during a forward pass."""

    def __init__(self):
        super().__init__()
        self.calls: Counter[str] = Counter()

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        if func.namespace == "edgeattn":
            self.calls[func.name()] += 1
        return func(*args, **(kwargs or {}))


class Prepared:
    """A rewritten, perturbed seed model with its input, torch output and edgeattn call count."""

    def __init__(self, name: str):
        torch.manual_seed(SEED)
        model = perturb_for_parity(timm.create_model(name, pretrained=False).eval(), SEED)
        self.model, self.swaps = rewrite_model(model)
        generator = torch.Generator().manual_seed(SEED)
        self.x = torch.randn(1, 3, RESOLUTION, RESOLUTION, generator=generator)
        counter = CountEdgeattnCalls()
        with torch.no_grad(), counter:
            self.expected = self.model(self.x).numpy()
        self.op_calls = sum(counter.calls.values())


@functools.cache
def prepared(name: str) -> Prepared:
    return Prepared(name)


def attention_matmuls(model: onnx.ModelProto) -> list[str]:
    """MatMul nodes whose both operands are activations (attention products, not weights)."""
    constants = {i.name for i in model.graph.initializer}
    constants |= {o for n in model.graph.node if n.op_type == "Constant" for o in n.output}
    return [
        n.name for n in model.graph.node
        if n.op_type == "MatMul" and not any(i in constants for i in n.input)
    ]


def assert_matches_torch(actual: np.ndarray, expected: np.ndarray) -> None:
    assert actual.shape == expected.shape
    max_abs = float(np.abs(actual - expected).max())
    assert max_abs <= model_fp32_atol(float(np.abs(expected).max()))
    cosine = float((actual * expected).sum() / np.linalg.norm(actual) / np.linalg.norm(expected))
    assert cosine >= MODEL_FP32_MIN_COSINE


def check_portable_structure(model: onnx.ModelProto, case: Prepared, op_type: str) -> None:
    assert {n.domain for n in model.graph.node} <= {"", "ai.onnx"}
    assert {o.domain for o in model.opset_import} <= {"", "ai.onnx"}
    assert not model.functions
    onnx.checker.check_model(model, full_check=True)
    kinds = Counter(n.op_type for n in model.graph.node)
    if op_type in ("SingleHeadAttention", "MultiHeadAttention"):
        assert kinds["Softmax"] == case.op_calls
    elif op_type == "DFCAttention":
        assert kinds["Resize"] == case.op_calls


def check_plugin_structure(model: onnx.ModelProto, case: Prepared, op_type: str) -> None:
    custom = Counter(n.op_type for n in model.graph.node if n.domain == "edgeattn")
    assert custom == {op_type: case.op_calls}
    assert case.op_calls >= len(case.swaps) > 0
    kinds = Counter(n.op_type for n in model.graph.node)
    assert kinds["Softmax"] == 0
    assert attention_matmuls(model) == []
    if op_type == "DFCAttention":
        assert kinds["Resize"] == 0
    initializers = {i.name for i in model.graph.initializer}
    for node in (n for n in model.graph.node if n.domain == "edgeattn"):
        weights = WEIGHT_INPUTS.get(op_type, ())
        assert all(node.input[i] in initializers for i in weights if i < len(node.input))
    used = ops_used(model)
    assert {entry["op_type"] for entry in used} == {op_type}
    assert sum(entry["count"] for entry in used) == case.op_calls


@pytest.mark.parametrize("flavour", FLAVOURS)
@pytest.mark.parametrize("name", SEED_MODELS)
def test_flavour_exports_matches_torch_and_passes_trt_lint(name, flavour):
    """One export per model and flavour: structure, parity with torch, TRT lint, determinism."""
    case, op_type = prepared(name), SEED_MODELS[name]
    model = export_flavour(case.model, (case.x,), flavour)
    if flavour == "portable":
        check_portable_structure(model, case, op_type)
    else:
        check_plugin_structure(model, case, op_type)
    assert_matches_torch(run_flavour(model, flavour, [case.x.numpy()])[0], case.expected)
    report = lint(model, TRT_VERSIONS)
    assert report.ok, report.to_json()
    assert [f for f in report.findings if f.severity == "warning"] == []
    if (name, flavour) in REPEATED_EXPORTS:
        again = export_flavour(case.model, (case.x,), flavour)
        assert again.SerializeToString() == model.SerializeToString()
