"""SuperTokenAttention Triton kernels (interpreter) against the fp32 and INT8 references, and their
ahead-of-time compilation for Jetson Orin (sm_87) and Hopper (sm_90) in a child process."""

from __future__ import annotations

import os
import subprocess
import sys
import textwrap

import pytest
import torch
from kernel_helpers import DTYPE_IDS, DTYPES, assert_matches, generator, poisoned, randn

from edgeattn.ops.super_token_attention import int8_reference
from edgeattn.ops.super_token_attention import triton as sta_triton
from edgeattn.ops.super_token_attention.layout import StokenGrid
from edgeattn.ops.super_token_attention.reference import sample_super_tokens, super_token_attention

SHAPES = {  # (B, C, H, W, cell_h, cell_w, n_iter, heads)
    "stvit-stage1-96px-24x24-cells8": (1, 64, 24, 24, 8, 8, 1, 1),
    "odd-13x11-cells4x3-iter2-batch2": (2, 12, 13, 11, 4, 3, 2, 3),
    "c70-two-channel-blocks-7x9-cells2x5": (1, 70, 7, 9, 2, 5, 1, 2),
    "one-padded-cell-5x3-cells8": (1, 16, 5, 3, 8, 8, 1, 1),
    "cells1x1-4x5": (1, 8, 4, 5, 1, 1, 1, 2),
}


def _inputs(shape, dtype=torch.float32, seed=42):
    batch, channels, height, width, cell_h, cell_w, n_iter, heads = shape
    gen = generator(seed)
    x = randn(gen, batch, channels, height, width, dtype=dtype)
    weights = (
        randn(gen, 3 * channels, channels, dtype=dtype, scale=channels**-0.5),
        randn(gen, 3 * channels, dtype=dtype, scale=0.1),
        randn(gen, channels, channels, dtype=dtype, scale=channels**-0.5),
        randn(gen, channels, dtype=dtype, scale=0.1),
    )
    attributes = (cell_h, cell_w, n_iter, heads, channels**-0.5, (channels // heads) ** -0.5)
    return x, weights, attributes


def _fp32(tensors):
    return [t.float() for t in tensors]


@pytest.mark.parametrize("dtype", DTYPES, ids=DTYPE_IDS)
@pytest.mark.parametrize("shape", SHAPES.values(), ids=SHAPES.keys())
def test_matches_reference(shape, dtype):
    x, weights, attributes = _inputs(shape, dtype)
    out = sta_triton.super_token_attention(x, *weights, *attributes, out=poisoned(x.shape, dtype))
    assert out.dtype == dtype
    assert_matches(out, super_token_attention(x.float(), *_fp32(weights), *attributes), dtype)


def test_stages_match_the_reference_pieces():
    """The sampled super tokens and the association the kernels keep equal the reference's."""
    x, _, (cell_h, cell_w, n_iter, _, assoc_scale, _) = _inputs(SHAPES["odd-13x11-cells4x3-iter2-batch2"])
    grid = sta_triton.grid_of(x, cell_h, cell_w)
    work = sta_triton._workspace(x, grid)
    for tensor in work.values():
        tensor.fill_(float("nan"))
    sta_triton._sample(x, grid, n_iter, assoc_scale, work)
    stokens, assoc = sample_super_tokens(x, StokenGrid(13, 11, cell_h, cell_w), n_iter, assoc_scale)
    torch.testing.assert_close(work["stokens"], stokens, atol=1e-5, rtol=1e-5)
    torch.testing.assert_close(work["assoc"].view(assoc.shape), assoc, atol=1e-6, rtol=1e-5)
    torch.testing.assert_close(work["assoc"].sum(-1), torch.ones(work["assoc"].shape[:2]))


def test_workspace_elements_counts_every_buffer():
    x, _, (cell_h, cell_w, *_rest) = _inputs(SHAPES["odd-13x11-cells4x3-iter2-batch2"])
    work = sta_triton._workspace(x, sta_triton.grid_of(x, cell_h, cell_w))
    assert sta_triton.workspace_elements(tuple(x.shape), cell_h, cell_w) == sum(t.numel() for t in work.values())


def _qk_scales(x, weights, attributes):
    cell_h, cell_w, n_iter, heads, assoc_scale, _ = attributes
    grid = StokenGrid(x.shape[2], x.shape[3], cell_h, cell_w)
    stokens, _ = sample_super_tokens(x, grid, n_iter, assoc_scale)
    qkv = torch.nn.functional.linear(stokens, weights[0], weights[1]).reshape(*stokens.shape[:2], heads, 3, -1)
    return [qkv[..., p, :].abs().amax(dim=(0, 1, 3)) / 127 for p in range(3)]


@pytest.mark.parametrize("with_v", [False, True], ids=["int8-qk", "int8-qk-and-pv"])
def test_int8_matches_int8_reference(with_v):
    shape = (2, 64, 13, 11, 4, 3, 1, 2)
    x, weights, attributes = _inputs(shape)
    q_scale, k_scale, v_scale = _qk_scales(x, weights, attributes)
    extra = (v_scale, torch.full((2,), 1 / 127)) if with_v else ()
    out = sta_triton.super_token_attention_int8(x, *weights, *attributes, q_scale, k_scale, *extra,
                                                out=poisoned(x.shape, torch.float32))
    expected = int8_reference.super_token_attention_int8(x, *weights, *attributes, q_scale, k_scale, *extra)
    assert_matches(out, expected, torch.float32)
    fp32 = super_token_attention(x, *weights, *attributes)
    assert (expected - fp32).abs().max() > 1e-6, "the INT8 reference must differ from fp32"


def test_refusals_explain_the_problem():
    x, weights, attributes = _inputs(SHAPES["cells1x1-4x5"])
    ok, reason = sta_triton.can_run(x, weights[0][:5], *weights[1:], *attributes)
    assert not ok and "qkv_weight" in reason
    ok, reason = sta_triton.can_run(x, *weights, 2, 2, 1, 3, 0.3, 0.3)
    assert not ok and "num_heads=3 must divide C=8" in reason
    ok, reason = sta_triton.can_run(x.double(), *weights, *attributes)
    assert not ok and "dtype float64" in reason
    scale = torch.ones(2)
    ok, reason = sta_triton.can_run_int8(x, *weights, *attributes, scale, scale, v_scale=scale)
    assert not ok and "v_scale together with p_scale" in reason
    ok, reason = sta_triton.can_run_int8(x, *weights, *attributes, scale, scale)
    assert not ok and "head dim >= 32" in reason


COMPILE = textwrap.dedent(
    """
    import sys
    import torch
    from edgeattn.kernels import aot
    from edgeattn.kernels import attention
    from edgeattn.ops.super_token_attention import triton as sta
    from edgeattn.ops.super_token_attention import triton_kernels as kernels

    arch = int(sys.argv[1])
    for dtype in (torch.float32, torch.float16):
        x = torch.zeros(1, 64, 56, 56, dtype=dtype)
        grid = sta.grid_of(x, 8, 8)
        work = sta._workspace(x, grid)
        w, b = torch.zeros(192, 64, dtype=dtype), torch.zeros(192, dtype=dtype)
        q, k, v = sta._heads(work["qkv"], 1)
        codes = torch.zeros(2, 1, 1, 49, 64, dtype=torch.int8)
        stages = [
            (kernels, "stoken_pool_kernel", sta.pool, (x, grid, work["stokens"])),
            (kernels, "stoken_associate_kernel", sta.associate,
             (x, work["stokens"], grid, 0.125, work["assoc"], work["part"], work["mass"])),
            (kernels, "stoken_fold_kernel", sta.fold, (work["part"], work["mass"], grid, work["stokens"])),
            (kernels, "stoken_linear_kernel", sta.linear,
             (work["stokens"].view(-1, 64), w, b, work["qkv"].view(-1, 192))),
            (kernels, "stoken_quantize_kernel", sta.quantize, (work["qkv"], torch.ones(2, 1), 1, codes)),
            (attention, "attention_fwd_kernel", attention.attention_forward,
             (q, k, v, sta._attended_view(work["attended"], 1), 0.125)),
            (attention, "attention_int8_kernel", attention.attention_int8_forward,
             (codes[0], codes[1], v, sta._attended_view(work["attended"], 1), 0.125, torch.ones(1), torch.ones(1))),
            (kernels, "stoken_upsample_kernel", sta.upsample, (work["stokens"], work["assoc"], grid, x)),
        ]
        for module, name, launcher, args in stages:
            compiled = aot.compile_launch(aot.record_launch(module, name, launcher, *args), arch=arch)
            assert compiled.asm["cubin"], name
            print("compiled", name, dtype)
    """
)


@pytest.mark.parametrize("arch", [87, pytest.param(90, marks=pytest.mark.slow)], ids=lambda a: f"sm_{a}")
def test_every_stage_compiles_for_gpu(arch):
    env = {k: v for k, v in os.environ.items() if k != "TRITON_INTERPRET"}
    env["TRITON_DEFAULT_FP_FUSION"] = "1"
    result = subprocess.run([sys.executable, "-c", COMPILE, str(arch)], env=env, capture_output=True,
                            text=True, timeout=600)
    assert result.returncode == 0, result.stderr[-4000:]
    assert result.stdout.count("compiled") == 16

