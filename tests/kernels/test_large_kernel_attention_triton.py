"""LargeKernelAttention fused Triton kernel (interpreter) against the fp32 reference."""

from __future__ import annotations

import pytest
import torch
from kernel_helpers import (
    DTYPE_IDS,
    DTYPES,
    assert_matches,
    assert_workspace_barrier,
    compiled_ptx,
    generator,
    poisoned,
    randn,
)

from edgeattn.ops.large_kernel_attention import triton as lka_triton
from edgeattn.ops.large_kernel_attention.reference import large_kernel_attention

CASES = {  # (B, C, H, W, K0, K1, dilation)
    "van-5x5-7x7d3-13x11": (1, 2, 13, 11, 5, 7, 3),
    "van-5x5-7x7d3-7x7": (2, 1, 7, 7, 5, 7, 3),
    "k3-k3-d2-5x9": (1, 2, 5, 9, 3, 3, 2),
    "three-bands-37x5": (1, 1, 37, 5, 5, 7, 3),
    "k3-k5-d1-4x4": (1, 3, 4, 4, 3, 5, 1),
}


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("case", CASES.values(), ids=CASES.keys())
def test_matches_reference(case, dtype):
    batch, channels, height, width, k0, k1, dilation = case
    gen = generator()
    x = randn(gen, batch, channels, height, width, dtype=dtype)
    w0, b0 = (
        randn(gen, channels, 1, k0, k0, dtype=dtype, scale=0.2),
        randn(gen, channels, dtype=dtype),
    )
    w1, b1 = (
        randn(gen, channels, 1, k1, k1, dtype=dtype, scale=0.2),
        randn(gen, channels, dtype=dtype),
    )
    out = lka_triton.large_kernel_attention(
        x, w0, b0, w1, b1, dilation, out=poisoned(x.shape, dtype)
    )
    ref = large_kernel_attention(
        x.float(), w0.float(), b0.float(), w1.float(), b1.float(), dilation
    )
    assert_matches(out, ref, dtype)


def test_workspace_covers_band_and_halo_rows():
    """37 rows -> 3 bands of 16 rows, each with 2 * 9 halo rows, per (batch, channel) plane."""
    assert lka_triton.workspace_elements((2, 3, 37, 5), k1=7, dilation=3) == 2 * 3 * 3 * 34 * 5


def test_refusals_explain_the_problem():
    x = torch.zeros(1, 2, 7, 7)
    ok, reason = lka_triton.can_run(
        x, torch.zeros(2, 1, 4, 4), torch.zeros(2), torch.zeros(2, 1, 7, 7), torch.zeros(2)
    )
    assert not ok and "odd K" in reason
    ok, reason = lka_triton.can_run(
        x,
        torch.zeros(2, 1, 5, 5),
        torch.zeros(2),
        torch.zeros(2, 1, 7, 7),
        torch.zeros(2),
        dilation=0,
    )
    assert not ok and "dilation" in reason


def test_compiled_kernel_has_the_workspace_barrier():
    shapes = [(1, 32, 56, 56), (32, 1, 5, 5), (32,), (32, 1, 7, 7), (32,), 3]
    assert_workspace_barrier(compiled_ptx("edgeattn.ops.large_kernel_attention.triton",
                                          "large_kernel_attention_kernel", "large_kernel_attention", shapes))
