"""Softmax attention kernels shared by the attention ops (single-head, multi-head, set attention).

Every tensor is addressed through explicit strides, so the channel-first SHViT layout
([B, D, N]: a single head with swapped token/channel strides) and the head-major layout
([B, H, N, D]) run through the same kernels without copies. Odd sizes are handled by masked
loads; padded keys get -inf scores, padded queries and channels are never stored.

Parameter order follows TensorRT's AOT plugin convention: input pointers, int scalars, output
pointers, then compile-time constants (the softmax scale is a `tl.constexpr`, never a float
kernel argument).
"""

from __future__ import annotations

from typing import NamedTuple

import torch
import triton
import triton.language as tl

from edgeattn.kernels.runtime import block, per_head

MAX_HEAD_DIM = 256
"""Largest q/k head dim the kernels hold in registers."""


@triton.jit
def _program_offsets(H, BLOCK_M: tl.constexpr, BLOCK_D: tl.constexpr, BLOCK_DV: tl.constexpr):
    """This program's batch, head, query rows, q/k channels and v channels (grid axes 0, 1, 2)."""
    pid_bh = tl.program_id(0)
    offs_m = tl.program_id(1) * BLOCK_M + tl.arange(0, BLOCK_M)
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = tl.program_id(2) * BLOCK_DV + tl.arange(0, BLOCK_DV)
    return pid_bh // H, pid_bh % H, offs_m, offs_d, offs_dv


@triton.jit
def _load_tile(ptr, rows, cols, n_rows, n_cols, s_row, s_col):
    """ptr[rows, cols] through strides; zeros outside n_rows x n_cols."""
    return tl.load(
        ptr + rows[:, None] * s_row + cols[None, :] * s_col,
        mask=(rows[:, None] < n_rows) & (cols[None, :] < n_cols),
        other=0,
    )


@triton.jit
def _store_tile(ptr, rows, cols, n_rows, n_cols, s_row, s_col, value):
    """ptr[rows, cols] = value inside n_rows x n_cols."""
    tl.store(
        ptr + rows[:, None] * s_row + cols[None, :] * s_col,
        value,
        mask=(rows[:, None] < n_rows) & (cols[None, :] < n_cols),
    )


@triton.jit
def _bias_and_mask(
    s,
    bias_ptr,
    mask_ptr,
    offs_m,
    offs_n,
    N,
    M,
    s_bn,
    s_bm,
    s_mm,
    HAS_BIAS: tl.constexpr,
    HAS_MASK: tl.constexpr,
):
    """Log2-domain scores `s` of one key block plus the bias, -inf on padded or masked keys."""
    key_ok = offs_n < M
    if HAS_BIAS:
        bias = _load_tile(bias_ptr, offs_m, offs_n, N, M, s_bn, s_bm)
        s += bias.to(tl.float32) * 1.4426950408889634
    if HAS_MASK:
        valid = tl.load(mask_ptr + offs_n * s_mm, mask=key_ok, other=0)
        key_ok = key_ok & (valid != 0)
    return tl.where(key_ok[None, :], s, float("-inf"))


@triton.jit
def attention_fwd_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    bias_ptr,
    mask_ptr,
    N,
    M,
    D,
    DV,
    H,
    s_qb,
    s_qh,
    s_qn,
    s_qd,
    s_kb,
    s_kh,
    s_km,
    s_kd,
    s_vb,
    s_vh,
    s_vm,
    s_vd,
    s_bb,
    s_bh,
    s_bn,
    s_bm,
    s_mb,
    s_mm,
    s_ob,
    s_oh,
    s_on,
    s_od,
    o_ptr,
    SCALE: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    HAS_MASK: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_DV: tl.constexpr,
):
    """One pass, online softmax (fp32 statistics, accumulator); grid (B*H, N blocks, Dv blocks)."""
    b, h, offs_m, offs_d, offs_dv = _program_offsets(H, BLOCK_M, BLOCK_D, BLOCK_DV)
    q = _load_tile(q_ptr + b * s_qb + h * s_qh, offs_m, offs_d, N, D, s_qn, s_qd)
    k_ptr = k_ptr + b * s_kb + h * s_kh
    bias_ptr = bias_ptr + b * s_bb + h * s_bh
    mask_ptr = mask_ptr + b * s_mb
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    acc = tl.zeros([BLOCK_M, BLOCK_DV], tl.float32)
    for start in range(0, M, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        k = _load_tile(k_ptr, offs_d, offs_n, D, M, s_kd, s_km)
        s = tl.dot(q, k, input_precision="ieee") * (SCALE * 1.4426950408889634)
        s = _bias_and_mask(
            s, bias_ptr, mask_ptr, offs_m, offs_n, N, M, s_bn, s_bm, s_mm, HAS_BIAS, HAS_MASK
        )
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m_i - m_safe)
        p = tl.exp2(s - m_safe[:, None])
        l_i = l_i * alpha + tl.sum(p, 1)
        v = _load_tile(v_ptr + b * s_vb + h * s_vh, offs_n, offs_dv, M, DV, s_vm, s_vd)
        acc = acc * alpha[:, None] + tl.dot(p.to(v.dtype), v, input_precision="ieee")
        m_i = m_new
    out = acc / tl.where(l_i > 0, l_i, 1.0)[:, None]
    _store_tile(
        o_ptr + b * s_ob + h * s_oh, offs_m, offs_dv, N, DV, s_on, s_od, out.to(o_ptr.dtype.element_ty)
    )


@triton.jit
def _int8_scores(
    q,
    k_ptr,
    bias_ptr,
    mask_ptr,
    qk_scale,
    offs_m,
    offs_d,
    offs_n,
    N,
    M,
    D,
    s_km,
    s_kd,
    s_bn,
    s_bm,
    s_mm,
    HAS_BIAS: tl.constexpr,
    HAS_MASK: tl.constexpr,
):
    """int32 Q.K^T of one key block, and its log2-domain fp32 scores with -inf on invalid keys.

    k_ptr, bias_ptr and mask_ptr point at this program's batch and head.
    """
    acc = tl.dot(q, _load_tile(k_ptr, offs_d, offs_n, D, M, s_kd, s_km), out_dtype=tl.int32)
    s = _bias_and_mask(
        acc.to(tl.float32) * qk_scale,
        bias_ptr, mask_ptr, offs_m, offs_n, N, M, s_bn, s_bm, s_mm, HAS_BIAS, HAS_MASK,
    )
    return acc, s


@triton.jit
def attention_int8_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    bias_ptr,
    mask_ptr,
    q_scale_ptr,
    k_scale_ptr,
    v_scale_ptr,
    p_scale_ptr,
    N,
    M,
    D,
    DV,
    H,
    s_qb,
    s_qh,
    s_qn,
    s_qd,
    s_kb,
    s_kh,
    s_km,
    s_kd,
    s_vb,
    s_vh,
    s_vm,
    s_vd,
    s_bb,
    s_bh,
    s_bn,
    s_bm,
    s_mb,
    s_mm,
    s_ob,
    s_oh,
    s_on,
    s_od,
    s_sb,
    s_sh,
    s_sn,
    s_sm,
    o_ptr,
    scores_ptr,
    SCALE: tl.constexpr,
    HAS_BIAS: tl.constexpr,
    HAS_MASK: tl.constexpr,
    V_INT8: tl.constexpr,
    STORE_SCORES: tl.constexpr,
    BLOCK_M: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_DV: tl.constexpr,
):
    """INT8 attention, two passes so P is quantized after normalisation (as the Q/DQ graph does).

    Q.K^T runs int8 x int8 -> int32; scores = acc * q_scale[h] * k_scale[h] * SCALE; softmax in
    fp32. With V_INT8, P is quantized to [0, 127] with p_scale[h] and P.V runs int8 -> int32,
    dequantized by p_scale[h] * v_scale[h]; otherwise P.V runs in V's float dtype.
    STORE_SCORES writes the int32 Q.K^T accumulators (for bit-exact tests).
    """
    b, h, offs_m, offs_d, offs_dv = _program_offsets(H, BLOCK_M, BLOCK_D, BLOCK_DV)
    q = _load_tile(q_ptr + b * s_qb + h * s_qh, offs_m, offs_d, N, D, s_qn, s_qd)
    k_ptr = k_ptr + b * s_kb + h * s_kh
    bias_ptr = bias_ptr + b * s_bb + h * s_bh
    mask_ptr = mask_ptr + b * s_mb
    qk_scale = tl.load(q_scale_ptr + h) * tl.load(k_scale_ptr + h) * (SCALE * 1.4426950408889634)
    m_i = tl.full([BLOCK_M], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_M], tl.float32)
    for start in range(0, M, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        acc_qk, s = _int8_scores(
            q, k_ptr, bias_ptr, mask_ptr, qk_scale, offs_m, offs_d, offs_n,
            N, M, D, s_km, s_kd, s_bn, s_bm, s_mm, HAS_BIAS, HAS_MASK,
        )
        if STORE_SCORES:
            if tl.program_id(2) == 0:
                _store_tile(scores_ptr + b * s_sb + h * s_sh, offs_m, offs_n, N, M, s_sn, s_sm, acc_qk)
        m_new = tl.maximum(m_i, tl.max(s, 1))
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        l_i = l_i * tl.exp2(m_i - m_safe) + tl.sum(tl.exp2(s - m_safe[:, None]), 1)
        m_i = m_new
    m_safe = tl.where(m_i == float("-inf"), 0.0, m_i)
    inv_l = 1.0 / tl.where(l_i > 0, l_i, float("inf"))
    if V_INT8:
        p_scale = tl.load(p_scale_ptr + h)
        acc_i = tl.zeros([BLOCK_M, BLOCK_DV], tl.int32)
    else:
        acc_f = tl.zeros([BLOCK_M, BLOCK_DV], tl.float32)
    for start in range(0, M, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        _, s = _int8_scores(
            q, k_ptr, bias_ptr, mask_ptr, qk_scale, offs_m, offs_d, offs_n,
            N, M, D, s_km, s_kd, s_bn, s_bm, s_mm, HAS_BIAS, HAS_MASK,
        )
        p = tl.exp2(s - m_safe[:, None]) * inv_l[:, None]
        v = _load_tile(v_ptr + b * s_vb + h * s_vh, offs_n, offs_dv, M, DV, s_vm, s_vd)
        if V_INT8:
            p_q = tl.minimum(tl.floor(p / p_scale + 0.5), 127.0).to(tl.int8)
            acc_i += tl.dot(p_q, v, out_dtype=tl.int32)
        else:
            acc_f += tl.dot(p.to(v.dtype), v, input_precision="ieee")
    if V_INT8:
        out = acc_i.to(tl.float32) * (p_scale * tl.load(v_scale_ptr + h))
    else:
        out = acc_f
    _store_tile(
        o_ptr + b * s_ob + h * s_oh, offs_m, offs_dv, N, DV, s_on, s_od, out.to(o_ptr.dtype.element_ty)
    )


def _bias_strides(bias: torch.Tensor | None) -> tuple[int, int, int, int]:
    if bias is None:
        return (0, 0, 0, 0)
    if bias.dim() == 3:
        return (0, *bias.stride())
    return tuple(bias.stride())


class _Launch(NamedTuple):
    """What both kernels take alike: q, k, v, bias, mask pointers, then sizes and strides."""

    grid: tuple[int, int, int]
    inputs: tuple[torch.Tensor, ...]
    scalars: tuple[int, ...]
    constexprs: dict[str, int | bool]


def _launch(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    out: torch.Tensor,
    bias: torch.Tensor | None,
    key_mask: torch.Tensor | None,
) -> _Launch:
    """Grid, shared arguments and block sizes; q stands in for an absent bias or mask."""
    batch, heads, n, d = q.shape
    m, dv = k.shape[2], v.shape[3]
    min_k = 32 if q.dtype == torch.int8 else 16  # NVIDIA tl.dot: K >= 32 for int8, >= 16 for fp16
    block_dv = block(dv, 16, 128)
    mask = key_mask.view(torch.uint8) if key_mask is not None and key_mask.dtype == torch.bool else key_mask
    return _Launch(
        grid=(batch * heads, triton.cdiv(n, block(n, 16, 64)), triton.cdiv(dv, block_dv)),
        inputs=(q, k, v, bias if bias is not None else q, mask if mask is not None else q),
        scalars=(
            n,
            m,
            d,
            dv,
            heads,
            *q.stride(),
            *k.stride(),
            *v.stride(),
            *_bias_strides(bias),
            *(mask.stride() if mask is not None else (0, 0)),
            *out.stride(),
        ),
        constexprs={
            "HAS_BIAS": bias is not None,
            "HAS_MASK": mask is not None,
            "BLOCK_M": block(n, 16, 64),
            "BLOCK_N": block(m, min_k, 64),
            "BLOCK_D": block(d, min_k),
            "BLOCK_DV": block_dv,
        },
    )


def attention_forward(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    out: torch.Tensor,
    scale: float,
    bias: torch.Tensor | None = None,
    key_mask: torch.Tensor | None = None,
) -> torch.Tensor:
    """Launch `attention_fwd_kernel` on [B, H, N, D]-shaped views (any strides); fills `out`."""
    launch = _launch(q, k, v, out, bias, key_mask)
    attention_fwd_kernel[launch.grid](
        *launch.inputs, *launch.scalars, out, SCALE=float(scale), **launch.constexprs
    )
    return out


def attention_int8_forward(
    q: torch.Tensor,
    k: torch.Tensor,
    v: torch.Tensor,
    out: torch.Tensor,
    scale: float,
    q_scale: torch.Tensor,
    k_scale: torch.Tensor,
    v_scale: torch.Tensor | None = None,
    p_scale: torch.Tensor | None = None,
    bias: torch.Tensor | None = None,
    key_mask: torch.Tensor | None = None,
    scores: torch.Tensor | None = None,
) -> torch.Tensor:
    """Launch `attention_int8_kernel` on [B, H, N, D] views; fp32 scales per tensor or per head.

    `scores`, when given ([B, H, N, M] int32), receives the int32 Q.K^T accumulators.
    """
    launch = _launch(q, k, v, out, bias, key_mask)
    heads = q.shape[1]
    v_int8 = v.dtype == torch.int8
    q_scale, k_scale = per_head(q_scale, heads), per_head(k_scale, heads)
    attention_int8_kernel[launch.grid](
        *launch.inputs,
        q_scale,
        k_scale,
        per_head(v_scale, heads) if v_int8 else q_scale,
        per_head(p_scale, heads) if v_int8 else q_scale,
        *launch.scalars,
        *(scores.stride() if scores is not None else (0, 0, 0, 0)),
        out,
        scores if scores is not None else out,
        SCALE=float(scale),
        V_INT8=v_int8,
        STORE_SCORES=scores is not None,
        **launch.constexprs,
    )
    return out

