"""Every Triton kernel against its reference on a CUDA GPU at the full shapes of its spec.yaml.

Run separately from tests/kernels (whose conftest switches Triton to its CPU interpreter for the
whole process):  EDGEATTN_TEST_GPU=1 pytest tests/gpu
"""

from __future__ import annotations

import pytest
import torch

from edgeattn.ops.cases import make_case
from edgeattn.kernels.runtime import interpreter_requested
from edgeattn.ops import fake_quant
from edgeattn.ops.registry import all_ops

pytestmark = [
    pytest.mark.gpu,
    pytest.mark.skipif(
        not torch.cuda.is_available(),
        reason="needs a CUDA GPU (torch.cuda.is_available() is False)",
    ),
    pytest.mark.skipif(
        interpreter_requested(),
        reason="TRITON_INTERPRET=1 in this process: run `EDGEATTN_TEST_GPU=1 pytest tests/gpu` on its own",
    ),
]

OPS = {o.name: o for o in all_ops()}
CASES = [
    (name, case, batch) for name, o in OPS.items() for case in o.spec.cases for batch in (1, 8)
]
DTYPES = {"fp32": torch.float32, "fp16": torch.float16}


def _cuda_case(name, case, batch, dtype):
    op = OPS[name]
    return op, make_case(op, case, dtype=dtype, batch=batch, device="cuda")


def _fp32(value):
    return value.float() if torch.is_tensor(value) and value.is_floating_point() else value


@pytest.mark.parametrize("dtype", DTYPES.values(), ids=DTYPES.keys())
@pytest.mark.parametrize("name, case, batch", CASES, ids=[f"{n}-{c.id}-b{b}" for n, c, b in CASES])
def test_kernel_matches_reference(name, case, batch, dtype):
    from edgeattn.ops.backends import backend

    op, oc = _cuda_case(name, case, batch, dtype)
    tolerance = op.spec.tolerances["fp16" if dtype == torch.float16 else "fp32"]
    out = torch.full_like(op.reference(*oc.inputs, **oc.attrs), float("nan"))
    backend(name, "triton").run(*oc.inputs, **oc.attrs, out=out)
    ref = op.reference(*(_fp32(t) for t in oc.inputs), **{k: _fp32(v) for k, v in oc.attrs.items()})
    assert not torch.isnan(out).any()
    torch.testing.assert_close(out.float(), ref, atol=tolerance.atol, rtol=tolerance.rtol)


INT8_CASES = [
    (n, c)
    for n, c, b in CASES
    if b == 8 and n in ("SingleHeadAttention", "MultiHeadAttention", "ReLULinearAttention")
]


@pytest.mark.parametrize("name, case", INT8_CASES, ids=[f"{n}-{c.id}-b8" for n, c in INT8_CASES])
def test_int8_kernel_integer_part_bit_exact(name, case):
    import importlib

    op, oc = _cuda_case(name, case, 8, torch.float32)
    axis = None if name == "SingleHeadAttention" else 1
    q, k, v = oc.inputs
    scales = [fake_quant.symmetric_scale(t, axis=axis) for t in (q, k, v)]
    q8, k8, v8 = (
        fake_quant.quantize(t, s, axis=axis) for t, s in zip((q, k, v), scales, strict=True)
    )
    kernels = importlib.import_module(f"edgeattn.ops.{op.folder}.triton")
    int8_ref = importlib.import_module(f"edgeattn.ops.{op.folder}.int8_reference")
    if name == "ReLULinearAttention":
        state = torch.empty(
            (*q.shape[:2], q.shape[3], v.shape[3]), dtype=torch.int32, device="cuda"
        )
        out = kernels.relu_linear_attention_int8(q8, k8, v8, oc.attrs["eps"], *scales, state=state)
        assert torch.equal(state, int8_ref.int8_state(k8, v8))
        ref = int8_ref.relu_linear_attention_int8(q8, k8, v8, oc.attrs["eps"], *scales)
    else:
        p_scale = torch.full_like(scales[0], fake_quant.DEFAULT_PROBABILITY_SCALE)
        options = {key: oc.attrs[key] for key in ("attn_bias", "key_mask") if key in oc.attrs}
        if name == "SingleHeadAttention":
            scores = torch.empty(
                (q.shape[0], q.shape[2], k.shape[2]), dtype=torch.int32, device="cuda"
            )
        else:
            scores = torch.empty((*q.shape[:3], k.shape[2]), dtype=torch.int32, device="cuda")
        launcher = getattr(kernels, f"{op.folder}_int8")
        out = launcher(q8, k8, v8, oc.attrs["scale"], *scales, p_scale, scores=scores, **options)
        assert torch.equal(scores, int8_ref.int8_scores(q8, k8))
        ref = getattr(int8_ref, f"{op.folder}_int8")(
            q8, k8, v8, oc.attrs["scale"], *scales, p_scale, **options
        )
    # One P code may round the other way on the GPU's exp/division: allow one code of |v| per row.
    limit = 1e-2 + fake_quant.DEFAULT_PROBABILITY_SCALE * float(v.abs().max())
    torch.testing.assert_close(out.float(), ref, atol=limit, rtol=0.0)


def test_rewritten_backbone_runs_on_triton_kernels():
    import timm

    from edgeattn.ops.backends import use_backend
    from edgeattn.ops.rewrite import rewrite_model

    torch.manual_seed(42)
    model, _ = rewrite_model(timm.create_model("shvit_s1", pretrained=False))
    model = model.cuda()
    image = torch.randn(8, 3, 224, 224, generator=torch.Generator().manual_seed(42)).cuda()
    with torch.no_grad():
        expected = model(image)
        with use_backend("triton", fallback=False):
            actual = model(image)
    torch.testing.assert_close(actual, expected, atol=1e-3, rtol=1e-3)
