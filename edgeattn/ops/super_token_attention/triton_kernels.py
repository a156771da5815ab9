"""Triton kernels of SuperTokenAttention (launchers in triton.py).

Super tokens, the association A, the per-cell partial sums and the projections live in fp32
workspaces; the input map x is read through its strides and the output is written in x's dtype.
Grid axis 0 of the cell kernels is (batch, cell) = b * M + m; cell m = i * COLS + j covers tokens
(i * CELL_H + t // CELL_W, j * CELL_W + t % CELL_W), t < CELL_H * CELL_W. Neighbour k = ky * 3 + kx
of cell (i, j) is cell (i + ky - 1, j + kx - 1); the 9 directions are padded to 16 columns for tl.dot.
Parameter order follows the TensorRT AOT plugin convention: inputs, int scalars, outputs, constexprs.
"""

from __future__ import annotations

import triton
import triton.language as tl

DIRECTIONS = tl.constexpr(16)
"""The 9 neighbour directions padded to a tl.dot-friendly width."""


@triton.jit
def _cell(pid, ROWS, COLS):
    """(batch, cell, row, col) of grid index pid = b * M + m."""
    cells = ROWS * COLS
    m = pid % cells
    return pid // cells, m, m // COLS, m % COLS


@triton.jit
def _cell_tokens(i, j, H, W, CELL_H: tl.constexpr, CELL_W: tl.constexpr, BLOCK_T: tl.constexpr):
    """Token rows/cols of cell (i, j), whether t is a cell token, and whether it lies in the image."""
    t = tl.arange(0, BLOCK_T)
    y = i * CELL_H + t // CELL_W
    x = j * CELL_W + t % CELL_W
    is_token = t < CELL_H * CELL_W
    return t, y, x, is_token, is_token & (y < H) & (x < W)


@triton.jit
def _neighbours(i, j, ROWS, COLS, SIGN: tl.constexpr):
    """Directions k (16 lanes), and cell (i + SIGN*(ky-1), j + SIGN*(kx-1)) with its validity."""
    k = tl.arange(0, DIRECTIONS)
    ni = i + SIGN * (k // 3 - 1)
    nj = j + SIGN * (k % 3 - 1)
    ok = (k < 9) & (ni >= 0) & (ni < ROWS) & (nj >= 0) & (nj < COLS)
    return k, tl.where(ok, ni * COLS + nj, 0), ok


@triton.jit
def _load_tokens(x_base, y, x, in_image, c, C, s_xc, s_xh, s_xw):
    """Tokens [BLOCK_T, BLOCK_C] of one cell in fp32; zeros for padding tokens and channels >= C."""
    ptrs = x_base + c[None, :] * s_xc + y[:, None] * s_xh + x[:, None] * s_xw
    mask = in_image[:, None] & (c[None, :] < C)
    return tl.load(ptrs, mask=mask, other=0.0).to(tl.float32)


@triton.jit
def stoken_pool_kernel(
    x_ptr, C, H, W, ROWS, COLS, s_xb, s_xc, s_xh, s_xw, s_ptr,
    CELL_H: tl.constexpr, CELL_W: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """Initial super tokens S[b, m, c] = mean of the cell's tokens (zero padding included).
    Grid (B * M, cdiv(C, BLOCK_C))."""
    pid = tl.program_id(0)
    b, m, i, j = _cell(pid, ROWS, COLS)
    _, y, x, _, in_image = _cell_tokens(i, j, H, W, CELL_H, CELL_W, BLOCK_T)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    tokens = _load_tokens(x_ptr + b * s_xb, y, x, in_image, c, C, s_xc, s_xh, s_xw)
    mean = tl.sum(tokens, 0) / (CELL_H * CELL_W)
    tl.store(s_ptr + pid.to(tl.int64) * C + c, mean, mask=c < C)


@triton.jit
def stoken_associate_kernel(
    x_ptr, s_ptr, C, H, W, ROWS, COLS, s_xb, s_xc, s_xh, s_xw, a_ptr, part_ptr, mass_ptr,
    ASSOC_SCALE: tl.constexpr, CELL_H: tl.constexpr, CELL_W: tl.constexpr,
    BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """Association of one cell's tokens with its 9 neighbouring super tokens, and its partial sums.

    A[b, m, t, k] = softmax_k(ASSOC_SCALE * <token t, S[neighbour k]>) (a neighbour outside the
    grid is a zero vector: logit 0); part[b, m, k, :] = sum_t A[t, k] * token t and
    mass[b, m, k] = sum_t A[t, k], which stoken_fold_kernel adds up per super token. Grid (B * M,).
    """
    pid = tl.program_id(0)
    b, m, i, j = _cell(pid, ROWS, COLS)
    t, y, x, is_token, in_image = _cell_tokens(i, j, H, W, CELL_H, CELL_W, BLOCK_T)
    k, near, near_ok = _neighbours(i, j, ROWS, COLS, 1)
    x_base = x_ptr + b * s_xb
    s_rows = s_ptr + (b * ROWS * COLS + near).to(tl.int64) * C
    logits = tl.zeros([BLOCK_T, DIRECTIONS], tl.float32)
    for start in range(0, C, BLOCK_C):
        c = start + tl.arange(0, BLOCK_C)
        tokens = _load_tokens(x_base, y, x, in_image, c, C, s_xc, s_xh, s_xw)
        stokens = tl.load(s_rows[:, None] + c[None, :], mask=near_ok[:, None] & (c[None, :] < C), other=0.0)
        logits += tl.dot(tokens, tl.trans(stokens), input_precision="ieee")
    logits = tl.where(k[None, :] < 9, logits * ASSOC_SCALE, float("-inf"))
    e = tl.exp(logits - tl.max(logits, 1)[:, None])
    assoc = tl.where(is_token[:, None], e / tl.sum(e, 1)[:, None], 0.0)
    row = pid.to(tl.int64) * (CELL_H * CELL_W) + t
    tl.store(a_ptr + row[:, None] * 9 + k[None, :], assoc, mask=is_token[:, None] & (k[None, :] < 9))
    tl.store(mass_ptr + pid.to(tl.int64) * 9 + k, tl.sum(assoc, 0), mask=k < 9)
    part_rows = part_ptr + (pid.to(tl.int64) * 9 + k) * C
    for start in range(0, C, BLOCK_C):
        c = start + tl.arange(0, BLOCK_C)
        tokens = _load_tokens(x_base, y, x, in_image, c, C, s_xc, s_xh, s_xw)
        weighted = tl.dot(tl.trans(assoc), tokens, input_precision="ieee")
        tl.store(part_rows[:, None] + c[None, :], weighted, mask=(k[:, None] < 9) & (c[None, :] < C))


@triton.jit
def stoken_fold_kernel(
    part_ptr, mass_ptr, C, ROWS, COLS, s_ptr, EPS: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """S[b, m] = sum of the partial sums the 9 cells around m sent towards m, divided by their
    association mass + EPS (fixed order k = 0..8: deterministic). Grid (B * M, cdiv(C, BLOCK_C))."""
    pid = tl.program_id(0)
    b, m, i, j = _cell(pid, ROWS, COLS)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    k, source, ok = _neighbours(i, j, ROWS, COLS, -1)
    flat = (b * ROWS * COLS + source).to(tl.int64) * 9 + k
    mass = tl.sum(tl.load(mass_ptr + flat, mask=ok, other=0.0), 0)
    weighted = tl.load(part_ptr + flat[:, None] * C + c[None, :], mask=ok[:, None] & (c[None, :] < C), other=0.0)
    tl.store(s_ptr + pid.to(tl.int64) * C + c, tl.sum(weighted, 0) / (mass + EPS), mask=c < C)


@triton.jit
def stoken_linear_kernel(
    x_ptr, w_ptr, b_ptr, R, N, K, s_xr, s_xk, s_wn, s_wk, s_or, s_on, o_ptr,
    BLOCK_R: tl.constexpr, BLOCK_N: tl.constexpr, BLOCK_K: tl.constexpr,
):
    """out[r, n] = sum_k x[r, k] * w[n, k] + b[n] in fp32 (the super-token qkv / proj layers).
    Grid (cdiv(R, BLOCK_R), cdiv(N, BLOCK_N))."""
    r = tl.program_id(0) * BLOCK_R + tl.arange(0, BLOCK_R)
    n = tl.program_id(1) * BLOCK_N + tl.arange(0, BLOCK_N)
    acc = tl.zeros([BLOCK_R, BLOCK_N], tl.float32)
    for start in range(0, K, BLOCK_K):
        kk = start + tl.arange(0, BLOCK_K)
        xs = tl.load(x_ptr + r[:, None] * s_xr + kk[None, :] * s_xk,
                     mask=(r[:, None] < R) & (kk[None, :] < K), other=0.0)
        ws = tl.load(w_ptr + n[:, None] * s_wn + kk[None, :] * s_wk,
                     mask=(n[:, None] < N) & (kk[None, :] < K), other=0.0)
        acc += tl.dot(xs.to(tl.float32), tl.trans(ws.to(tl.float32)), input_precision="ieee")
    acc += tl.load(b_ptr + n, mask=n < N, other=0.0).to(tl.float32)[None, :]
    tl.store(o_ptr + r[:, None] * s_or + n[None, :] * s_on, acc, mask=(r[:, None] < R) & (n[None, :] < N))


@triton.jit
def stoken_quantize_kernel(
    qkv_ptr, scale_ptr, M, HEADS, HEAD_DIM, codes_ptr, PARTS: tl.constexpr, BLOCK_D: tl.constexpr,
):
    """int8 codes of q, k (and v with PARTS = 3) per head: clamp(floor(x / scale[part, h] + 0.5),
    -127, 127) from qkv [B, M, HEADS, 3, HEAD_DIM] into codes [PARTS, B, HEADS, M, HEAD_DIM].
    Grid (B * M, HEADS)."""
    pid = tl.program_id(0)
    h = tl.program_id(1)
    b = pid // M
    m = pid % M
    d = tl.arange(0, BLOCK_D)
    d_ok = d < HEAD_DIM
    batches = tl.num_programs(0) // M
    for part in tl.static_range(PARTS):
        value = tl.load(qkv_ptr + ((pid * HEADS + h) * 3 + part) * HEAD_DIM + d, mask=d_ok, other=0.0)
        code = tl.floor(value / tl.load(scale_ptr + part * HEADS + h) + 0.5)
        code = tl.minimum(tl.maximum(code, -127.0), 127.0).to(tl.int8)
        row = ((part * batches + b) * HEADS + h) * M + m
        tl.store(codes_ptr + row.to(tl.int64) * HEAD_DIM + d, code, mask=d_ok)


@triton.jit
def stoken_upsample_kernel(
    s_ptr, a_ptr, C, H, W, ROWS, COLS, s_ob, s_oc, s_oh, s_ow, o_ptr,
    CELL_H: tl.constexpr, CELL_W: tl.constexpr, BLOCK_T: tl.constexpr, BLOCK_C: tl.constexpr,
):
    """Token t of cell m = sum_k A[b, m, t, k] * S'[neighbour k] (zero outside the grid), written
    to out[b, :, y, x] inside the image only. Grid (B * M, cdiv(C, BLOCK_C))."""
    pid = tl.program_id(0)
    b, m, i, j = _cell(pid, ROWS, COLS)
    t, y, x, is_token, in_image = _cell_tokens(i, j, H, W, CELL_H, CELL_W, BLOCK_T)
    k, near, near_ok = _neighbours(i, j, ROWS, COLS, 1)
    c = tl.program_id(1) * BLOCK_C + tl.arange(0, BLOCK_C)
    row = pid.to(tl.int64) * (CELL_H * CELL_W) + t
    assoc = tl.load(a_ptr + row[:, None] * 9 + k[None, :],
                    mask=is_token[:, None] & near_ok[None, :], other=0.0)
    s_rows = s_ptr + (b * ROWS * COLS + near).to(tl.int64) * C
    stokens = tl.load(s_rows[:, None] + c[None, :], mask=near_ok[:, None] & (c[None, :] < C), other=0.0)
    tokens = tl.dot(assoc, stokens, input_precision="ieee")
    ptrs = o_ptr + b * s_ob + c[None, :] * s_oc + y[:, None] * s_oh + x[:, None] * s_ow
    tl.store(ptrs, tokens.to(o_ptr.dtype.element_ty), mask=in_image[:, None] & (c[None, :] < C))
