"""Triton SuperTokenAttention: launchers for the kernels in triton_kernels.py (fp32/fp16; INT8 Q.K^T).

One call is 5 + 2 * n_iter launches, each a memory-bound pass over the token map or a small
pass over the M super tokens:

    pool       x -> S (cell means)                              reads x once
    n_iter x   associate: x, S -> A, per-cell partial sums      reads x twice (the second from L2)
               fold: partial sums -> S                          M * 9 * C, deterministic (no atomics)
    linear     S -> qkv [B, M, 3C]
    attention  shared edgeattn.kernels.attention kernel on strided q/k/v views of qkv
    linear     O -> S' (proj)
    upsample   A, S' -> out                                     writes out once

Only A (9 floats per token) and M-sized tensors go through the fp32 workspace (`workspace_elements`,
what a TensorRT plugin reports); each stage launcher launches exactly one kernel, so
`edgeattn.kernels.aot.record_launch` can compile every stage ahead of time.
"""

from __future__ import annotations

import torch
import triton
from torch import Tensor

from edgeattn.kernels.attention import MAX_HEAD_DIM, attention_forward, attention_int8_forward
from edgeattn.kernels.runtime import (
    FLOAT_DTYPES,
    block,
    device_refusal,
    dtype_refusal,
    raise_if_refused,
    verdict,
)
from edgeattn.ops.super_token_attention import triton_kernels as kernels
from edgeattn.ops.super_token_attention.layout import EPS, NEIGHBOURS, StokenGrid

BLOCK_C = 64
"""Channels per program (cell kernels) and per tl.dot step of the linear layers."""


def grid_of(x: Tensor, stoken_height: int, stoken_width: int) -> StokenGrid:
    """The super-token grid of x [B, C, H, W]."""
    return StokenGrid(int(x.shape[2]), int(x.shape[3]), int(stoken_height), int(stoken_width))


def workspace_elements(x_shape: tuple[int, ...], stoken_height: int, stoken_width: int) -> int:
    """fp32 workspace elements of one call: S, qkv, O, A, partial sums and masses."""
    batch, channels, height, width = x_shape
    grid = StokenGrid(height, width, stoken_height, stoken_width)
    rows = batch * grid.cells
    return rows * (channels * (1 + 3 + 1 + NEIGHBOURS) + NEIGHBOURS * (grid.tokens_per_cell + 1))


def _cell_blocks(grid: StokenGrid) -> dict[str, int]:
    return {"CELL_H": grid.cell_h, "CELL_W": grid.cell_w, "BLOCK_T": block(grid.tokens_per_cell, 16)}


def pool(x: Tensor, grid: StokenGrid, stokens: Tensor) -> Tensor:
    """stokens [B, M, C] = cell means of x."""
    batch, channels = x.shape[:2]
    kernels.stoken_pool_kernel[(batch * grid.cells, triton.cdiv(channels, BLOCK_C))](
        x, channels, grid.height, grid.width, grid.rows, grid.cols, *x.stride(), stokens,
        BLOCK_C=BLOCK_C, **_cell_blocks(grid),
    )
    return stokens


def associate(x: Tensor, stokens: Tensor, grid: StokenGrid, assoc_scale: float, assoc: Tensor,
              part: Tensor, mass: Tensor) -> Tensor:
    """assoc [B, M, T, 9], part [B, M, 9, C], mass [B, M, 9] from x and the super tokens."""
    batch, channels = x.shape[:2]
    kernels.stoken_associate_kernel[(batch * grid.cells,)](
        x, stokens, channels, grid.height, grid.width, grid.rows, grid.cols, *x.stride(),
        assoc, part, mass, ASSOC_SCALE=float(assoc_scale), BLOCK_C=BLOCK_C, **_cell_blocks(grid),
    )
    return assoc


def fold(part: Tensor, mass: Tensor, grid: StokenGrid, stokens: Tensor) -> Tensor:
    """stokens [B, M, C] = association-weighted token means from the per-cell partial sums."""
    rows, channels = stokens.shape[0] * grid.cells, stokens.shape[2]
    kernels.stoken_fold_kernel[(rows, triton.cdiv(channels, BLOCK_C))](
        part, mass, channels, grid.rows, grid.cols, stokens, EPS=EPS, BLOCK_C=BLOCK_C,
    )
    return stokens


def linear(x: Tensor, weight: Tensor, bias: Tensor, out: Tensor) -> Tensor:
    """out [R, N] = x [R, K] @ weight[N, K]^T + bias, fp32 accumulation."""
    rows, size = x.shape[0], weight.shape[0]
    block_r, block_n = block(rows, 16, 64), block(size, 16, 64)
    kernels.stoken_linear_kernel[(triton.cdiv(rows, block_r), triton.cdiv(size, block_n))](
        x, weight, bias, rows, size, x.shape[1], *x.stride(), *weight.stride(), *out.stride(), out,
        BLOCK_R=block_r, BLOCK_N=block_n, BLOCK_K=block(x.shape[1], 16, BLOCK_C),
    )
    return out


def quantize(qkv: Tensor, scales: Tensor, heads: int, codes: Tensor) -> Tensor:
    """int8 codes [P, B, H, M, D] of the first P = scales.shape[0] parts (q, k[, v]) of qkv."""
    batch, cells = qkv.shape[:2]
    head_dim = qkv.shape[2] // (3 * heads)
    kernels.stoken_quantize_kernel[(batch * cells, heads)](
        qkv, scales, cells, heads, head_dim, codes, PARTS=scales.shape[0], BLOCK_D=block(head_dim, 16),
    )
    return codes


def upsample(stokens: Tensor, assoc: Tensor, grid: StokenGrid, out: Tensor) -> Tensor:
    """out [B, C, H, W] = tokens from the refined super tokens through the association."""
    batch, channels = out.shape[:2]
    kernels.stoken_upsample_kernel[(batch * grid.cells, triton.cdiv(channels, BLOCK_C))](
        stokens, assoc, channels, grid.height, grid.width, grid.rows, grid.cols, *out.stride(), out,
        BLOCK_C=BLOCK_C, **_cell_blocks(grid),
    )
    return out


def _shape_refusal(x: Tensor, qkv_weight: Tensor, qkv_bias: Tensor, proj_weight: Tensor,
                   proj_bias: Tensor, stoken_height: int, stoken_width: int, n_iter: int,
                   num_heads: int) -> str:
    if x.dim() != 4 or 0 in x.shape:
        return f"x {tuple(x.shape)} must be a non-empty [B, C, H, W] map"
    channels = x.shape[1]
    expected = {"qkv_weight": (qkv_weight, (3 * channels, channels)), "qkv_bias": (qkv_bias, (3 * channels,)),
                "proj_weight": (proj_weight, (channels, channels)), "proj_bias": (proj_bias, (channels,))}
    for name, (tensor, shape) in expected.items():
        if tuple(tensor.shape) != shape:
            return f"{name} {tuple(tensor.shape)} must be {list(shape)} for C={channels}"
    if min(int(stoken_height), int(stoken_width), int(n_iter), int(num_heads)) < 1:
        return "stoken_height, stoken_width, n_iter and num_heads must be >= 1"
    if channels % int(num_heads):
        return f"num_heads={num_heads} must divide C={channels}"
    if channels // int(num_heads) > MAX_HEAD_DIM:
        return f"head dim {channels // int(num_heads)} exceeds the attention kernel limit {MAX_HEAD_DIM}"
    if int(stoken_height) * int(stoken_width) > 1024:
        return f"super-token cells of {stoken_height}x{stoken_width} tokens exceed the 1024-token tile"
    return ""


def can_run(x: Tensor, qkv_weight: Tensor, qkv_bias: Tensor, proj_weight: Tensor, proj_bias: Tensor,
            stoken_height: int, stoken_width: int, n_iter: int, num_heads: int, assoc_scale: float,
            attn_scale: float) -> tuple[bool, str]:
    """Whether the kernels accept these inputs, and why not."""
    tensors = {"x": x, "qkv_weight": qkv_weight, "qkv_bias": qkv_bias, "proj_weight": proj_weight,
               "proj_bias": proj_bias}
    return verdict(
        _shape_refusal(x, qkv_weight, qkv_bias, proj_weight, proj_bias, stoken_height, stoken_width,
                       n_iter, num_heads)
        or dtype_refusal(tensors, FLOAT_DTYPES)
        or device_refusal(tensors.values(), kernels.stoken_associate_kernel)
    )


def _workspace(x: Tensor, grid: StokenGrid) -> dict[str, Tensor]:
    batch, channels = x.shape[:2]
    rows = batch * grid.cells

    def empty(*shape: int) -> Tensor:
        return torch.empty(shape, dtype=torch.float32, device=x.device)

    return {"stokens": empty(batch, grid.cells, channels), "qkv": empty(batch, grid.cells, 3 * channels),
            "attended": empty(batch, grid.cells, channels),
            "assoc": empty(rows, grid.tokens_per_cell, NEIGHBOURS), "part": empty(rows, NEIGHBOURS, channels),
            "mass": empty(rows, NEIGHBOURS)}


def _sample(x: Tensor, grid: StokenGrid, n_iter: int, assoc_scale: float, work: dict[str, Tensor]) -> None:
    """Fill work["stokens"] with the sampled super tokens and work["assoc"] with the last A."""
    pool(x, grid, work["stokens"])
    for _ in range(int(n_iter)):
        associate(x, work["stokens"], grid, assoc_scale, work["assoc"], work["part"], work["mass"])
        fold(work["part"], work["mass"], grid, work["stokens"])


def _heads(qkv: Tensor, heads: int) -> tuple[Tensor, Tensor, Tensor]:
    """[B, H, M, D] views of q, k, v inside qkv [B, M, 3C] (per head [q, k, v] order)."""
    batch, cells, width = qkv.shape
    view = qkv.view(batch, cells, heads, 3, width // (3 * heads)).permute(3, 0, 2, 1, 4)
    return view[0], view[1], view[2]


def _attended_view(attended: Tensor, heads: int) -> Tensor:
    """[B, H, M, D] view of the attention output stored as [B, M, C]."""
    batch, cells, channels = attended.shape
    return attended.view(batch, cells, heads, channels // heads).transpose(1, 2)


def super_token_attention(x: Tensor, qkv_weight: Tensor, qkv_bias: Tensor, proj_weight: Tensor,
                          proj_bias: Tensor, stoken_height: int, stoken_width: int, n_iter: int,
                          num_heads: int, assoc_scale: float, attn_scale: float,
                          out: Tensor | None = None) -> Tensor:
    """Super token attention on x [B, C, H, W] (fp32 or fp16) -> [B, C, H, W] in x's dtype."""
    raise_if_refused("SuperTokenAttention", can_run(
        x, qkv_weight, qkv_bias, proj_weight, proj_bias, stoken_height, stoken_width, n_iter,
        num_heads, assoc_scale, attn_scale))
    grid = grid_of(x, stoken_height, stoken_width)
    work = _workspace(x, grid)
    _sample(x, grid, n_iter, assoc_scale, work)
    stokens, qkv, attended = work["stokens"], work["qkv"], work["attended"]
    channels = x.shape[1]
    linear(stokens.view(-1, channels), qkv_weight, qkv_bias, qkv.view(-1, 3 * channels))
    attention_forward(*_heads(qkv, int(num_heads)), _attended_view(attended, int(num_heads)), attn_scale)
    linear(attended.view(-1, channels), proj_weight, proj_bias, stokens.view(-1, channels))
    out = torch.empty_like(x) if out is None else out
    return upsample(stokens, work["assoc"], grid, out)


def _int8_refusal(num_heads: int, head_dim: int, scales: dict[str, Tensor | None], device) -> str:
    given = {name for name, s in scales.items() if s is not None}
    if not {"q_scale", "k_scale"} <= given or len(given & {"v_scale", "p_scale"}) == 1:
        return "INT8 needs q_scale and k_scale, and v_scale together with p_scale (or neither)"
    for name in given:
        scale = scales[name]
        if scale.dtype != torch.float32 or scale.numel() not in (1, num_heads) or scale.device != device:
            return f"{name} must be float32 with 1 or H={num_heads} values on {device}"
    return "" if head_dim >= 32 else f"INT8 Q.K^T needs head dim >= 32 (tl.dot int8), got {head_dim}"


def can_run_int8(x: Tensor, qkv_weight: Tensor, qkv_bias: Tensor, proj_weight: Tensor,
                 proj_bias: Tensor, stoken_height: int, stoken_width: int, n_iter: int,
                 num_heads: int, assoc_scale: float, attn_scale: float, q_scale: Tensor,
                 k_scale: Tensor, v_scale: Tensor | None = None,
                 p_scale: Tensor | None = None) -> tuple[bool, str]:
    """Whether the INT8 path accepts these inputs and per-head scales, and why not."""
    ok, reason = can_run(x, qkv_weight, qkv_bias, proj_weight, proj_bias, stoken_height, stoken_width,
                         n_iter, num_heads, assoc_scale, attn_scale)
    if not ok:
        return ok, reason
    scales = {"q_scale": q_scale, "k_scale": k_scale, "v_scale": v_scale, "p_scale": p_scale}
    return verdict(_int8_refusal(int(num_heads), x.shape[1] // int(num_heads), scales, x.device))


def _per_head(scale: Tensor, heads: int) -> Tensor:
    return scale.reshape(-1).expand(heads)


def super_token_attention_int8(x: Tensor, qkv_weight: Tensor, qkv_bias: Tensor, proj_weight: Tensor,
                               proj_bias: Tensor, stoken_height: int, stoken_width: int, n_iter: int,
                               num_heads: int, assoc_scale: float, attn_scale: float, q_scale: Tensor,
                               k_scale: Tensor, v_scale: Tensor | None = None,
                               p_scale: Tensor | None = None, out: Tensor | None = None) -> Tensor:
    """Super token attention with the super-token Q.K^T in int8 (per-head q_scale, k_scale [H]),
    and P.V too when v_scale and p_scale are given; sampling and upsampling stay fp32.
    See int8_reference.py for the exact rounding. Output in x's dtype."""
    raise_if_refused("SuperTokenAttention INT8", can_run_int8(
        x, qkv_weight, qkv_bias, proj_weight, proj_bias, stoken_height, stoken_width, n_iter,
        num_heads, assoc_scale, attn_scale, q_scale, k_scale, v_scale, p_scale))
    heads, channels = int(num_heads), x.shape[1]
    grid = grid_of(x, stoken_height, stoken_width)
    work = _workspace(x, grid)
    _sample(x, grid, n_iter, assoc_scale, work)
    stokens, qkv, attended = work["stokens"], work["qkv"], work["attended"]
    linear(stokens.view(-1, channels), qkv_weight, qkv_bias, qkv.view(-1, 3 * channels))
    parts = [q_scale, k_scale] + ([v_scale] if v_scale is not None else [])
    scales = torch.stack([_per_head(s, heads) for s in parts]).contiguous()
    codes = torch.empty((len(parts), x.shape[0], heads, grid.cells, channels // heads),
                        dtype=torch.int8, device=x.device)
    quantize(qkv, scales, heads, codes)
    v = codes[2] if v_scale is not None else _heads(qkv, heads)[2]
    attention_int8_forward(codes[0], codes[1], v, _attended_view(attended, heads), attn_scale,
                           scales[0], scales[1], scales[2] if v_scale is not None else None,
                           _per_head(p_scale, heads).contiguous() if p_scale is not None else None)
    linear(attended.view(-1, channels), proj_weight, proj_bias, stokens.view(-1, channels))
    out = torch.empty_like(x) if out is None else out
    return upsample(stokens, work["assoc"], grid, out)
