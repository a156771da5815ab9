"""MultiHeadAttention Triton kernels (interpreter) against the fp32 and INT8 references."""

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

from edgeattn.ops import fake_quant
from edgeattn.ops.multi_head_attention import int8_reference
from edgeattn.ops.multi_head_attention import triton as mha_triton
from edgeattn.ops.multi_head_attention.reference import multi_head_attention

SHAPES = {  # (B, H, N, M, D, Dv)
    "lowformer-49-tokens": (1, 2, 49, 49, 32, 32),
    "cross-13-to-11": (2, 3, 13, 11, 40, 20),
    "efficientvit-m-dv96": (1, 1, 16, 16, 16, 96),
    "dsvt-set-36": (3, 2, 36, 36, 24, 24),
    "tokens-197-dv-130": (1, 1, 197, 63, 8, 130),
}
EXTRAS = ["plain", "bias-hnm", "bias-bhnm", "key-mask", "bias-and-mask"]


def _inputs(shape, dtype, extra):
    batch, heads, n, m, d, dv = shape
    gen = generator()
    q, k = randn(gen, batch, heads, n, d, dtype=dtype), randn(gen, batch, heads, m, d, dtype=dtype)
    v = randn(gen, batch, heads, m, dv, dtype=dtype)
    bias = mask = None
    if extra in ("bias-hnm", "bias-and-mask"):
        bias = randn(gen, heads, n, m, dtype=dtype)
    if extra == "bias-bhnm":
        bias = randn(gen, batch, heads, n, m, dtype=dtype)
    if extra in ("key-mask", "bias-and-mask"):
        mask = torch.rand(batch, m, generator=gen) > 0.4
        mask[0] = False
    return q, k, v, bias, mask


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_matches_reference(shape, dtype):
    q, k, v, _, _ = _inputs(shape, dtype, "plain")
    out = mha_triton.multi_head_attention(
        q, k, v, 0.3, out=poisoned((*q.shape[:3], v.shape[3]), dtype)
    )
    assert_matches(out, multi_head_attention(q.float(), k.float(), v.float(), 0.3), dtype)


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("extra", EXTRAS[1:])
def test_bias_and_mask(extra, dtype):
    """Batch 0's keys are all masked where a mask is used: its rows must come out as zeros."""
    q, k, v, bias, mask = _inputs(SHAPES["cross-13-to-11"], dtype, extra)
    out = mha_triton.multi_head_attention(
        q, k, v, 0.3, bias, mask, out=poisoned((*q.shape[:3], v.shape[3]), dtype)
    )
    ref = multi_head_attention(
        q.float(), k.float(), v.float(), 0.3, None if bias is None else bias.float(), mask
    )
    assert_matches(out, ref, dtype)
    if mask is not None:
        assert torch.count_nonzero(out[0]) == 0


@pytest.mark.parametrize("extra", ["plain", "bias-and-mask"])
def test_int8_scores_bit_exact_and_output_close(extra):
    q, k, v, bias, mask = _inputs(SHAPES["cross-13-to-11"], torch.float32, extra)
    quant, scales = quantized(q=q, k=k, v=v, axis=1)
    p_scale = torch.full((q.shape[1],), fake_quant.DEFAULT_PROBABILITY_SCALE)
    args = (*quant.values(), 0.3, *scales.values(), p_scale, bias, mask)
    scores = torch.full((*q.shape[:3], k.shape[2]), -(2**31), dtype=torch.int32)
    out = mha_triton.multi_head_attention_int8(
        *args, out=poisoned((*q.shape[:3], v.shape[3]), torch.float16), scores=scores
    )
    assert torch.equal(scores, int8_reference.int8_scores(quant["q"], quant["k"]))
    assert_matches(out, int8_reference.multi_head_attention_int8(*args), torch.float16)


def test_int8_qk_with_float_v_per_head_scales():
    q, k, v, _, _ = _inputs(SHAPES["dsvt-set-36"], torch.float32, "plain")
    quant, scales = quantized(q=q, k=k, axis=1)
    args = (quant["q"], quant["k"], v, 0.3, scales["q"], scales["k"])
    out = mha_triton.multi_head_attention_int8(*args, out=poisoned(v.shape, torch.float32))
    assert_matches(out, int8_reference.multi_head_attention_int8(*args), torch.float32)


def test_refusals_explain_the_problem():
    q = torch.zeros(1, 2, 5, 8)
    ok, reason = mha_triton.can_run(q, q, q, 0.3, attn_bias=torch.zeros(2, 5, 4))
    assert not ok and "attn_bias" in reason
    ok, reason = mha_triton.can_run(q, q, q, 0.3, key_mask=torch.ones(1, 5))
    assert not ok and "key_mask must be bool" in reason
    ok, reason = mha_triton.can_run(q, q, q.half(), 0.3)
    assert not ok and "share one dtype" in reason
    q8 = q.to(torch.int8)
    ok, reason = mha_triton.can_run_int8(q8, q8, q, 0.3, torch.ones(3), torch.ones(2))
    assert not ok and "q_scale" in reason and "H=2" in reason
