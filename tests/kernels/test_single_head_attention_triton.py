"""SingleHeadAttention Triton kernels (interpreter) against the fp32 and INT8 references."""

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

from edgeattn.errors import UsageError
from edgeattn.ops import fake_quant
from edgeattn.ops.single_head_attention import int8_reference
from edgeattn.ops.single_head_attention import triton as sha_triton
from edgeattn.ops.single_head_attention.reference import single_head_attention

SHAPES = {  # (B, Dqk, Dv, N)
    "shvit-stage2-7x7": (2, 16, 48, 49),
    "odd-13x11": (1, 16, 27, 143),
    "tokens-197": (1, 16, 20, 197),
    "tiny-d5-n7": (1, 5, 3, 7),
    "dv-130-split": (1, 16, 130, 13),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_matches_reference(shape, dtype):
    batch, dqk, dv, n = shape
    gen = generator()
    q, k = randn(gen, batch, dqk, n, dtype=dtype), randn(gen, batch, dqk, n, dtype=dtype)
    v = randn(gen, batch, dv, n, dtype=dtype)
    out = sha_triton.single_head_attention(q, k, v, 0.25, out=poisoned(v.shape, dtype))
    assert_matches(out, single_head_attention(q.float(), k.float(), v.float(), 0.25), dtype)


def test_strided_views_from_fused_qkv():
    """SHViT splits one qkv map: the kernel must honour the views' strides, not copy them."""
    gen = generator()
    qkv = randn(gen, 2, 16 + 16 + 24, 63)
    q, k, v = torch.split(qkv, [16, 16, 24], dim=1)
    out = sha_triton.single_head_attention(
        q,
        k,
        v.transpose(1, 2).contiguous().transpose(1, 2),
        0.25,
        out=poisoned(v.shape, torch.float32),
    )
    assert_matches(out, single_head_attention(q, k, v, 0.25), torch.float32)


def _int8_inputs(batch, dqk, dv, n):
    gen = generator()
    q, k, v = randn(gen, batch, dqk, n), randn(gen, batch, dqk, n), randn(gen, batch, dv, n)
    return (v, *quantized(q=q, k=k, v=v))


@pytest.mark.parametrize("shape", [(2, 16, 48, 49), (1, 5, 3, 7)], ids=["shvit-7x7", "tiny-odd"])
def test_int8_scores_bit_exact_and_output_close(shape):
    batch, dqk, dv, n = shape
    _, quant, scales = _int8_inputs(batch, dqk, dv, n)
    p_scale = torch.tensor([fake_quant.DEFAULT_PROBABILITY_SCALE])
    args = (*quant.values(), 0.25, *scales.values(), p_scale)
    scores = torch.full((batch, n, n), -(2**31), dtype=torch.int32)
    out = sha_triton.single_head_attention_int8(
        *args, out=poisoned((batch, dv, n), torch.float16), scores=scores
    )
    assert torch.equal(scores, int8_reference.int8_scores(quant["q"], quant["k"]))
    assert_matches(out, int8_reference.single_head_attention_int8(*args), torch.float16)


def test_int8_qk_with_float_v():
    v, quant, scales = _int8_inputs(1, 16, 27, 63)
    v = v.half()
    args = (quant["q"], quant["k"], v, 0.25, scales["q"], scales["k"])
    out = sha_triton.single_head_attention_int8(*args, out=poisoned(v.shape, torch.float16))
    assert_matches(out, int8_reference.single_head_attention_int8(*args), torch.float16)


def test_refusals_explain_the_problem():
    q, v = torch.zeros(1, 16, 49), torch.zeros(1, 8, 49)
    ok, reason = sha_triton.can_run(q, torch.zeros(1, 16, 48), v, 0.25)
    assert not ok and "same shape" in reason
    ok, reason = sha_triton.can_run(q.double(), q.double(), v.double(), 0.25)
    assert not ok and "float64" in reason
    ok, reason = sha_triton.can_run_int8(
        q.to(torch.int8), q.to(torch.int8), v.to(torch.int8), 0.25, torch.ones(1), torch.ones(1)
    )
    assert not ok and "v_scale and p_scale" in reason
    with pytest.raises(UsageError, match="same shape"):
        sha_triton.single_head_attention(q, torch.zeros(1, 16, 48), v, 0.25)
