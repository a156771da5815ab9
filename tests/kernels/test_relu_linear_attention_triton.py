"""ReLULinearAttention Triton kernels (interpreter) against the fp32 and INT8 references."""

from __future__ import annotations

import pytest
import torch
from kernel_helpers import (
    DTYPE_IDS,
    DTYPES,
    assert_matches,
    generator,
    poisoned,
    quantized,
    randn,
)

from edgeattn.ops.relu_linear_attention import int8_reference
from edgeattn.ops.relu_linear_attention import triton as lin_triton
from edgeattn.ops.relu_linear_attention.reference import relu_linear_attention

SHAPES = {  # (B, H, N, D, Dv)
    "efficientvit-b-7x7": (1, 4, 49, 16, 16),
    "odd-13x11-d32": (2, 2, 143, 32, 32),
    "tokens-197": (1, 1, 197, 16, 16),
    "tiny-d5-dv3": (1, 3, 7, 5, 3),
    "dv-80-split": (1, 1, 63, 8, 80),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_matches_reference(shape, dtype):
    batch, heads, n, d, dv = shape
    gen = generator()
    q, k = randn(gen, batch, heads, n, d, dtype=dtype), randn(gen, batch, heads, n, d, dtype=dtype)
    v = randn(gen, batch, heads, n, dv, dtype=dtype)
    out = lin_triton.relu_linear_attention(q, k, v, 1e-5, out=poisoned(v.shape, dtype))
    assert_matches(out, relu_linear_attention(q.float(), k.float(), v.float(), 1e-5), dtype)


def test_fp16_state_stays_fp32():
    """Large fp16 activations: relu(k)^T v overflows fp16 (> 65504) unless the state is fp32."""
    gen = generator()
    q, k, v = (randn(gen, 1, 2, 197, 16, scale=60.0, dtype=torch.float16) for _ in range(3))
    kv = torch.relu(k.float()).transpose(-2, -1) @ v.float()
    assert kv.abs().max() > torch.finfo(torch.float16).max
    out = lin_triton.relu_linear_attention(q, k, v, 1e-5, out=poisoned(v.shape, torch.float16))
    ref = relu_linear_attention(q.float(), k.float(), v.float(), 1e-5)
    assert torch.isfinite(out).all()
    torch.testing.assert_close(out.float(), ref, atol=1e-2 * ref.abs().max().item(), rtol=0.0)


@pytest.mark.parametrize("shape", [(2, 2, 143, 32, 32), (1, 3, 7, 5, 3)], ids=["odd-13x11", "tiny"])
def test_int8_state_bit_exact_and_output_close(shape):
    batch, heads, n, d, dv = shape
    gen = generator()
    q, k, v = (
        randn(gen, batch, heads, n, d),
        randn(gen, batch, heads, n, d),
        randn(gen, batch, heads, n, dv),
    )
    quant, scales = quantized(q=q, k=k, v=v, axis=1)
    args = (*quant.values(), 1e-5, *scales.values())
    state = torch.full((batch, heads, d, dv), -(2**31), dtype=torch.int32)
    out = lin_triton.relu_linear_attention_int8(
        *args, out=poisoned(v.shape, torch.float16), state=state
    )
    assert torch.equal(state, int8_reference.int8_state(quant["k"], quant["v"]))
    assert_matches(out, int8_reference.relu_linear_attention_int8(*args), torch.float16)


def test_int8_qk_with_float_v():
    gen = generator()
    q, k, v = randn(gen, 1, 4, 49, 16), randn(gen, 1, 4, 49, 16), randn(gen, 1, 4, 49, 16)
    quant, scales = quantized(q=q, k=k, axis=1)
    args = (quant["q"], quant["k"], v, 1e-5, scales["q"], scales["k"])
    out = lin_triton.relu_linear_attention_int8(*args, out=poisoned(v.shape, torch.float32))
    assert_matches(out, int8_reference.relu_linear_attention_int8(*args), torch.float32)


def test_refusals_explain_the_problem():
    q = torch.zeros(1, 2, 7, 8)
    ok, reason = lin_triton.can_run(q, q, torch.zeros(1, 2, 6, 8), 1e-5)
    assert not ok and "B, H, N" in reason
    ok, reason = lin_triton.can_run(torch.zeros(1, 2, 7, 300), torch.zeros(1, 2, 7, 300), q, 1e-5)
    assert not ok and "head dim 300" in reason
