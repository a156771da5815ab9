"""Backend selection (reasons for every refusal) and the torch custom-op dispatch switch."""

from __future__ import annotations

import importlib

import pytest
import timm
import torch
from kernel_helpers import generator, randn

from edgeattn.errors import EdgeattnError, UsageError
from edgeattn.kernels import runtime
from edgeattn.ops.cases import make_case
from edgeattn.ops import backends
from edgeattn.ops.registry import all_ops
from edgeattn.ops.rewrite import rewrite_model
from edgeattn.ops.single_head_attention import triton as sha_triton
from edgeattn.ops.single_head_attention.reference import single_head_attention
from edgeattn.ops.single_head_attention.torch_op import single_head_attention_op


def _sha_inputs(dtype=torch.float32):
    gen = generator()
    return (
        randn(gen, 1, 16, 49, dtype=dtype),
        randn(gen, 1, 16, 49, dtype=dtype),
        randn(gen, 1, 24, 49, dtype=dtype),
    )


@pytest.mark.parametrize("name", ["SingleHeadAttention", "single_head_attention"])
def test_triton_selected_under_interpreter(name):
    chosen = backends.select_backend(name, _sha_inputs(), attrs={"scale": 0.25})
    assert chosen.name == "triton" and chosen.op == "SingleHeadAttention"


def test_refusing_backend_falls_through_to_reference():
    inputs = tuple(t.double() for t in _sha_inputs())
    assert (
        backends.select_backend("SingleHeadAttention", inputs, attrs={"scale": 0.25}).name
        == "reference"
    )


def test_no_backend_fits_lists_every_reason():
    inputs = tuple(t.double() for t in _sha_inputs())
    with pytest.raises(
        EdgeattnError, match=r"tried triton: q has dtype float64; expected float32/float16"
    ):
        backends.select_backend("SingleHeadAttention", inputs, ("triton",), {"scale": 0.25})


def test_wrong_arguments_are_a_refusal_not_a_crash():
    with pytest.raises(EdgeattnError, match="arguments do not match"):
        backends.select_backend("SingleHeadAttention", _sha_inputs(), ("triton",), {"bogus": 1})


def test_unknown_names_are_usage_errors():
    with pytest.raises(UsageError, match="Unknown backend 'cuda'"):
        backends.select_backend("SingleHeadAttention", _sha_inputs(), ("cuda",), {"scale": 0.25})
    with pytest.raises(UsageError, match="Unknown edgeattn op"):
        backends.select_backend("NoSuchOp", _sha_inputs())


def test_device_refusal_reasons():
    cpu = torch.zeros(2)
    assert "TRITON_INTERPRET=1" in runtime.device_refusal([cpu], kernel=object())
    assert runtime.device_refusal([cpu], sha_triton.attention_fwd_kernel) == ""
    assert "different devices" in runtime.device_refusal(
        [cpu, torch.zeros(2, device="meta")], object()
    )


@pytest.mark.parametrize("backend", ["triton", "reference"])
def test_run_op_matches_reference(backend):
    q, k, v = _sha_inputs()
    out = backends.run_op("SingleHeadAttention", q, k, v, backend=backend, scale=0.25)
    torch.testing.assert_close(out, single_head_attention(q, k, v, 0.25), atol=1e-4, rtol=1e-4)


def _count_triton_calls(monkeypatch):
    calls = []
    launcher = sha_triton.single_head_attention

    def spy(*args, **kwargs):
        calls.append(args[0].shape)
        return launcher(*args, **kwargs)

    monkeypatch.setattr(sha_triton, "single_head_attention", spy)
    return calls


def test_use_backend_switches_the_custom_op(monkeypatch):
    calls = _count_triton_calls(monkeypatch)
    q, k, v = _sha_inputs()
    with backends.use_backend("triton"):
        inside = single_head_attention_op(q, k, v, 0.25)
    outside = single_head_attention_op(q, k, v, 0.25)
    assert len(calls) == 1
    torch.testing.assert_close(inside, outside, atol=1e-4, rtol=1e-4)


def test_use_backend_without_fallback_raises_the_refusal():
    q, k, v = (t.double() for t in _sha_inputs())
    with (
        backends.use_backend("triton", fallback=False),
        pytest.raises(EdgeattnError, match="float64"),
    ):
        single_head_attention_op(q, k, v, 0.25)
    with pytest.raises(UsageError, match="Unknown backend"):
        with backends.use_backend("tensorrt"):
            pass


def test_whole_rewritten_backbone_runs_on_triton(monkeypatch):
    """SHViT-S1 at 64x64 (4 and 1 tokens in its attention stages) through the custom ops."""
    torch.manual_seed(42)
    model, swaps = rewrite_model(timm.create_model("shvit_s1", pretrained=False))
    assert swaps
    image = torch.randn(1, 3, 64, 64, generator=generator())
    calls = _count_triton_calls(monkeypatch)
    with torch.no_grad():
        expected = model(image)
        with backends.use_backend("triton"):
            actual = model(image)
    assert len(calls) == sum("SingleHeadAttention" in s for s in swaps)
    torch.testing.assert_close(actual, expected, atol=1e-4, rtol=1e-4)


def test_int8_backend_lookup():
    chosen = backends.int8_backend("MultiHeadAttention")
    assert chosen.name == "triton-int8" and chosen.run.__name__ == "multi_head_attention_int8"
    with pytest.raises(UsageError, match="INT8 kernels exist for: .*ReLULinearAttention"):
        backends.int8_backend("DFCAttention")


@pytest.mark.parametrize("op", all_ops(), ids=lambda o: o.name)
def test_use_backend_dispatches_every_custom_op(op, monkeypatch):
    case = min(op.spec.test_cases, key=lambda c: sum(torch.Size(s).numel() for s in c.shapes.values()))
    oc = make_case(op, case)
    module = importlib.import_module(f"edgeattn.ops.{op.folder}.triton")
    launcher, calls = getattr(module, op.folder), []
    monkeypatch.setattr(module, op.folder, lambda *a, **k: calls.append(1) or launcher(*a, **k))
    with backends.use_backend("triton", fallback=False):
        out = op.torch_op(*oc.inputs, **oc.attrs)
    assert calls == [1]
    torch.testing.assert_close(out, op.reference(*oc.inputs, **oc.attrs), atol=1e-4, rtol=1e-4)
