"""Triton SetAttention (DSVT): gather voxels into sets, masked multi-head attention, write back.

One fused kernel, query-centric: each program owns a block of output voxels and one head. Voxel i
reads its slot (s, t) = voxel_slot[i], gathers its query q[set_inds[s, t]] and, slot by slot, the
keys and values q/k/v[set_inds[s, t']] of its set with an online softmax (fp32), skipping keys whose
set_valid is False; the result is written straight to out[i]. No [S, T, C] set tensors are
materialised and any voxel_slot mapping is honoured exactly as in the reference.

Index values are never trusted for memory access: a voxel whose slot lies outside [0, S*T) or whose
own voxel index lies outside [0, N) gets a zero row, and a key whose voxel index lies outside [0, N)
is masked. The Python launcher refuses such partitions before launching; a TensorRT plugin cannot
(checking would need a device sync), so bad indices there give these defined results, never a fault.
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from edgeattn.kernels.runtime import (
    block,
    device_refusal,
    float_qkv_refusal,
    raise_if_refused,
    raise_refusal,
    verdict,
)

INDEX_DTYPES = (torch.int32, torch.int64)
MASK_DTYPES = (torch.bool, torch.int32)
"""set_valid: bool, or int32 (what a TensorRT plugin receives; non-zero = valid)."""


@triton.jit
def set_attention_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    inds_ptr,
    valid_ptr,
    slot_ptr,
    N,
    S,
    T,
    HEAD_DIM,
    s_qn,
    s_qc,
    s_kn,
    s_kc,
    s_vn,
    s_vc,
    s_is,
    s_it,
    s_bs,
    s_bt,
    s_slot,
    s_on,
    s_oc,
    o_ptr,
    SCALE: tl.constexpr,
    BLOCK_Q: tl.constexpr,
    BLOCK_D: tl.constexpr,
):
    """Grid (cdiv(N, BLOCK_Q), num_heads); fp32 statistics and accumulator, output in v's dtype."""
    pid_q = tl.program_id(0)
    h = tl.program_id(1)
    offs_i = pid_q * BLOCK_Q + tl.arange(0, BLOCK_Q)
    i_ok = offs_i < N
    offs_d = tl.arange(0, BLOCK_D)
    d_ok = offs_d < HEAD_DIM
    channel = h * HEAD_DIM + offs_d
    row_mask = i_ok[:, None] & d_ok[None, :]
    slot = tl.load(slot_ptr + offs_i * s_slot, mask=i_ok, other=0)
    slot_ok = i_ok & (slot >= 0) & (slot < S * T)
    slot = tl.where(slot_ok, slot, 0)
    set_id = slot // T
    q_idx = tl.load(inds_ptr + set_id * s_is + (slot % T) * s_it, mask=slot_ok, other=0)
    q_ok = slot_ok & (q_idx >= 0) & (q_idx < N)
    q_idx = tl.where(q_ok, q_idx, 0)
    q_mask = q_ok[:, None] & d_ok[None, :]
    q = tl.load(q_ptr + q_idx[:, None] * s_qn + channel[None, :] * s_qc, mask=q_mask, other=0.0)
    q = q.to(tl.float32) * (SCALE * 1.4426950408889634)
    m_i = tl.full([BLOCK_Q], float("-inf"), tl.float32)
    l_i = tl.zeros([BLOCK_Q], tl.float32)
    acc = tl.zeros([BLOCK_Q, BLOCK_D], tl.float32)
    for t in range(T):
        key_idx = tl.load(inds_ptr + set_id * s_is + t * s_it, mask=q_ok, other=0)
        valid = tl.load(valid_ptr + set_id * s_bs + t * s_bt, mask=q_ok, other=0) != 0
        valid = valid & q_ok & (key_idx >= 0) & (key_idx < N)
        key_idx = tl.where(valid, key_idx, 0)
        kv_mask = valid[:, None] & d_ok[None, :]
        k = tl.load(
            k_ptr + key_idx[:, None] * s_kn + channel[None, :] * s_kc, mask=kv_mask, other=0.0
        )
        score = tl.where(valid, tl.sum(q * k.to(tl.float32), 1), float("-inf"))
        m_new = tl.maximum(m_i, score)
        m_safe = tl.where(m_new == float("-inf"), 0.0, m_new)
        alpha = tl.exp2(m_i - m_safe)
        p = tl.exp2(score - m_safe)
        l_i = l_i * alpha + p
        v = tl.load(
            v_ptr + key_idx[:, None] * s_vn + channel[None, :] * s_vc, mask=kv_mask, other=0.0
        )
        acc = acc * alpha[:, None] + p[:, None] * v.to(tl.float32)
        m_i = m_new
    out = acc / tl.where(l_i > 0, l_i, 1.0)[:, None]
    tl.store(
        o_ptr + offs_i[:, None] * s_on + channel[None, :] * s_oc,
        out.to(o_ptr.dtype.element_ty),
        mask=row_mask,
    )


def _shape_refusal(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    set_inds: Tensor,
    set_valid: Tensor,
    voxel_slot: Tensor,
    num_heads: int,
) -> str:
    if q.dim() != 2 or q.shape != k.shape or q.shape != v.shape:
        shapes = ", ".join(str(tuple(t.shape)) for t in (q, k, v))
        return f"q, k, v must be [N, C] of one shape, got {shapes}"
    n, channels = q.shape
    if int(num_heads) < 1 or channels % int(num_heads):
        return f"C={channels} must be a positive multiple of num_heads={num_heads}"
    if set_inds.dim() != 2 or set_valid.shape != set_inds.shape:
        shapes = f"{tuple(set_inds.shape)} and set_valid {tuple(set_valid.shape)}"
        return f"set_inds {shapes} must be one [S, T] shape"
    if set_valid.dtype not in MASK_DTYPES:
        return f"set_valid must be bool or int32, got {set_valid.dtype}"
    if tuple(voxel_slot.shape) != (n,):
        return f"voxel_slot {tuple(voxel_slot.shape)} must be [N] with N={n}"
    if set_inds.dtype not in INDEX_DTYPES or voxel_slot.dtype not in INDEX_DTYPES:
        return "set_inds and voxel_slot must be int32 or int64"
    if 0 in (*q.shape, *set_inds.shape):
        return "empty tensors are not supported"
    return ""


def can_run(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    set_inds: Tensor,
    set_valid: Tensor,
    voxel_slot: Tensor,
    num_heads: int,
    scale: float,
) -> tuple[bool, str]:
    """Whether the fused kernel accepts these inputs, and why not (index values: at launch)."""
    return verdict(
        _shape_refusal(q, k, v, set_inds, set_valid, voxel_slot, num_heads)
        or float_qkv_refusal(q, k, v)
        or device_refusal((q, k, v, set_inds, set_valid, voxel_slot), set_attention_kernel)
    )


def _index_refusal(n: int, set_inds: Tensor, voxel_slot: Tensor) -> str:
    if int(set_inds.min()) < 0 or int(set_inds.max()) >= n:
        return f"set_inds values must lie in [0, {n})"
    if int(voxel_slot.min()) < 0 or int(voxel_slot.max()) >= set_inds.numel():
        return f"voxel_slot values must lie in [0, S*T = {set_inds.numel()})"
    return ""


def set_attention(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    set_inds: Tensor,
    set_valid: Tensor,
    voxel_slot: Tensor,
    num_heads: int,
    scale: float,
    out: Tensor | None = None,
) -> Tensor:
    """Masked multi-head attention inside voxel sets; q, k, v [N, C] -> [N, C] (v's dtype).

    Index values are range-checked before launch (one device sync), so bad partitions raise
    instead of reading out of bounds.
    """
    raise_if_refused(
        "SetAttention", can_run(q, k, v, set_inds, set_valid, voxel_slot, num_heads, scale)
    )
    raise_refusal("SetAttention", _index_refusal(q.shape[0], set_inds, voxel_slot))
    n, channels = q.shape
    head_dim = channels // int(num_heads)
    out = torch.empty_like(v) if out is None else out
    valid = set_valid.view(torch.uint8) if set_valid.dtype == torch.bool else set_valid
    block_q = 64
    set_attention_kernel[(triton.cdiv(n, block_q), int(num_heads))](
        q,
        k,
        v,
        set_inds,
        valid,
        voxel_slot,
        n,
        set_inds.shape[0],
        set_inds.shape[1],
        head_dim,
        *q.stride(),
        *k.stride(),
        *v.stride(),
        *set_inds.stride(),
        *valid.stride(),
        voxel_slot.stride(0),
        *out.stride(),
        out,
        SCALE=float(scale),
        BLOCK_Q=block_q,
        BLOCK_D=block(head_dim, 16),
    )
    return out
