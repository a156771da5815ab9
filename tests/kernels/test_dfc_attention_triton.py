"""DFCAttention fused Triton kernel (interpreter) against the fp32 reference."""

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

from edgeattn.ops.dfc_attention import triton as dfc_triton
from edgeattn.ops.dfc_attention.reference import dfc_attention

SIZES = {  # (B, C, (h, w), (H, W), K)
    "ghostnet-14-to-28-k5": (1, 3, (14, 14), (28, 28), 5),
    "odd-3-to-7": (2, 4, (3, 3), (7, 7), 5),
    "odd-6x5-to-13x11": (1, 3, (6, 5), (13, 11), 5),
    "same-size-k3": (1, 2, (7, 9), (7, 9), 3),
    "shrink-9-to-4": (1, 2, (9, 9), (4, 5), 5),
    "gate-smaller-than-kernel": (1, 2, (2, 1), (5, 3), 5),
    "gate-17x16-two-blocks": (1, 1, (17, 16), (34, 33), 5),
}


def _inputs(batch, channels, gate_hw, out_hw, kernel, dtype):
    gen = generator()
    return (
        randn(gen, batch, channels, *gate_hw, dtype=dtype),
        randn(gen, channels, 1, 1, kernel, dtype=dtype, scale=0.5),
        randn(gen, channels, dtype=dtype),
        randn(gen, channels, 1, kernel, 1, dtype=dtype, scale=0.5),
        randn(gen, channels, dtype=dtype),
        randn(gen, batch, channels, *out_hw, dtype=dtype),
    )


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("size", SIZES.values(), ids=SIZES.keys())
def test_matches_reference(size, dtype):
    inputs = _inputs(*size, dtype)
    out = dfc_triton.dfc_attention(*inputs, out=poisoned(inputs[-1].shape, dtype))
    assert_matches(out, dfc_attention(*(t.float() for t in inputs)), dtype)


@pytest.mark.parametrize(
    "in_size, out_size", [(3, 7), (7, 13), (5, 11), (11, 5), (13, 26), (6, 13)]
)
def test_nearest_scale_reproduces_torch_indices(in_size, out_size):
    """The kernel's fp32 floor(dst * scale) is PyTorch's nearest index for every destination."""
    source = torch.arange(in_size, dtype=torch.float32).reshape(1, 1, in_size)
    expected = torch.nn.functional.interpolate(source, size=out_size, mode="nearest").flatten()
    scale = torch.tensor(dfc_triton.nearest_scale(in_size, out_size), dtype=torch.float32)
    computed = torch.clamp(
        torch.floor(torch.arange(out_size, dtype=torch.float32) * scale), max=in_size - 1
    )
    assert torch.equal(computed, expected)


def test_refusals_explain_the_problem():
    gate, w_h, b_h, w_v, b_v, features = _inputs(1, 2, (3, 3), (7, 7), 4, torch.float32)
    ok, reason = dfc_triton.can_run(gate, w_h, b_h, w_v, b_v, features)
    assert not ok and "odd" in reason
    ok, reason = dfc_triton.can_run(gate, w_h, b_h, w_v, b_v, features[:, :1])
    assert not ok and "share B, C" in reason


def test_compiled_kernel_has_the_workspace_barrier():
    shapes = [(1, 72, 3, 3), (72, 1, 1, 5), (72,), (72, 1, 5, 1), (72,), (1, 72, 7, 7)]
    assert_workspace_barrier(compiled_ptx("edgeattn.ops.dfc_attention.triton", "dfc_attention_kernel",
                                          "dfc_attention", shapes))
