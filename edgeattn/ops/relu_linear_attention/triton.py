"""Triton ReLULinearAttention (EfficientViT LiteMLA core).

One program per (batch, head, Dv block): a first sweep over the tokens builds the relu(k)^T v
state and the relu(k)^T 1 normaliser in fp32 registers, a second sweep applies them to relu(q).
State, normaliser and division stay fp32 for fp16 inputs too. Kernel parameters follow the
TensorRT AOT order (inputs, int scalars, outputs, constexprs; eps is a constexpr).
"""

from __future__ import annotations

import torch
import triton
import triton.language as tl
from torch import Tensor

from edgeattn.kernels.runtime import (
    FLOAT_DTYPES,
    block,
    device_refusal,
    dtype_refusal,
    float_qkv_refusal,
    int8_output,
    per_head,
    raise_if_refused,
    verdict,
)

MAX_HEAD_DIM = 256


@triton.jit
def relu_linear_attention_kernel(
    q_ptr,
    k_ptr,
    v_ptr,
    q_scale_ptr,
    k_scale_ptr,
    v_scale_ptr,
    N,
    D,
    DV,
    H,
    s_qb,
    s_qh,
    s_qn,
    s_qd,
    s_kb,
    s_kh,
    s_kn,
    s_kd,
    s_vb,
    s_vh,
    s_vn,
    s_vd,
    s_ob,
    s_oh,
    s_on,
    s_od,
    s_sb,
    s_sh,
    s_sd,
    s_se,
    o_ptr,
    state_ptr,
    EPS: tl.constexpr,
    QK_INT8: tl.constexpr,
    V_INT8: tl.constexpr,
    STORE_STATE: tl.constexpr,
    BLOCK_N: tl.constexpr,
    BLOCK_D: tl.constexpr,
    BLOCK_DV: tl.constexpr,
):
    """Float path (QK_INT8 False) or INT8 path (int8 q, k; v int8 when V_INT8, int32 state)."""
    pid_bh = tl.program_id(0)
    pid_dv = tl.program_id(1)
    b = pid_bh // H
    h = pid_bh % H
    offs_d = tl.arange(0, BLOCK_D)
    offs_dv = pid_dv * BLOCK_DV + tl.arange(0, BLOCK_DV)
    d_ok = offs_d < D
    dv_ok = offs_dv < DV
    if V_INT8:
        kv_i = tl.zeros([BLOCK_D, BLOCK_DV], tl.int32)
    else:
        kv = tl.zeros([BLOCK_D, BLOCK_DV], tl.float32)
    k_sum = tl.zeros([BLOCK_D], tl.float32)
    for start in range(0, N, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        n_ok = offs_n < N
        k_t = tl.load(
            k_ptr + b * s_kb + h * s_kh + offs_d[:, None] * s_kd + offs_n[None, :] * s_kn,
            mask=d_ok[:, None] & n_ok[None, :],
            other=0,
        )
        k_t = tl.maximum(k_t, 0).to(k_ptr.dtype.element_ty)  # int literal 0 would promote int8 to int32
        v = tl.load(
            v_ptr + b * s_vb + h * s_vh + offs_n[:, None] * s_vn + offs_dv[None, :] * s_vd,
            mask=n_ok[:, None] & dv_ok[None, :],
            other=0,
        )
        k_sum += tl.sum(k_t.to(tl.float32), 1)
        if V_INT8:
            kv_i += tl.dot(k_t, v, out_dtype=tl.int32)
        else:
            kv += tl.dot(k_t.to(v.dtype), v, input_precision="ieee")
    if QK_INT8:
        k_scale = tl.load(k_scale_ptr + h)
        k_sum = k_sum * k_scale
        if V_INT8:
            if STORE_STATE:
                tl.store(
                    state_ptr
                    + b * s_sb
                    + h * s_sh
                    + offs_d[:, None] * s_sd
                    + offs_dv[None, :] * s_se,
                    kv_i,
                    mask=d_ok[:, None] & dv_ok[None, :],
                )
            kv = kv_i.to(tl.float32) * (k_scale * tl.load(v_scale_ptr + h))
        else:
            kv = kv * k_scale
        q_scale = tl.load(q_scale_ptr + h)
    for start in range(0, N, BLOCK_N):
        offs_n = start + tl.arange(0, BLOCK_N)
        n_ok = offs_n < N
        q = tl.load(
            q_ptr + b * s_qb + h * s_qh + offs_n[:, None] * s_qn + offs_d[None, :] * s_qd,
            mask=n_ok[:, None] & d_ok[None, :],
            other=0,
        )
        q = tl.maximum(q, 0).to(tl.float32)
        if QK_INT8:
            q = q * q_scale
        numerator = tl.dot(q, kv, input_precision="ieee")
        denominator = tl.sum(q * k_sum[None, :], 1) + EPS
        out = numerator / denominator[:, None]
        tl.store(
            o_ptr + b * s_ob + h * s_oh + offs_n[:, None] * s_on + offs_dv[None, :] * s_od,
            out.to(o_ptr.dtype.element_ty),
            mask=n_ok[:, None] & dv_ok[None, :],
        )


def _shape_refusal(q: Tensor, k: Tensor, v: Tensor) -> str:
    if q.dim() != 4 or k.dim() != 4 or v.dim() != 4:
        return "q, k and v must be 4-D [B, H, N, D]"
    if q.shape != k.shape:
        return f"q {tuple(q.shape)} and k {tuple(k.shape)} must have the same shape"
    if tuple(v.shape[:3]) != tuple(q.shape[:3]):
        return f"v {tuple(v.shape)} must be [B, H, N, Dv] with B, H, N of q {tuple(q.shape)}"
    if q.shape[3] > MAX_HEAD_DIM:
        return f"head dim {q.shape[3]} exceeds the kernel limit {MAX_HEAD_DIM}"
    if 0 in (*q.shape, v.shape[3]):
        return "empty tensors are not supported"
    return ""


def _launch(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    out: Tensor,
    eps: float,
    scales: tuple[Tensor, Tensor, Tensor] | None,
    state: Tensor | None,
) -> Tensor:
    batch, heads, n, d = q.shape
    dv = v.shape[3]
    block_dv = block(dv, 16, 64)
    q_scale, k_scale, v_scale = scales if scales is not None else (q, q, q)
    relu_linear_attention_kernel[(batch * heads, triton.cdiv(dv, block_dv))](
        q,
        k,
        v,
        q_scale,
        k_scale,
        v_scale,
        n,
        d,
        dv,
        heads,
        *q.stride(),
        *k.stride(),
        *v.stride(),
        *out.stride(),
        *(state.stride() if state is not None else (0, 0, 0, 0)),
        out,
        state if state is not None else out,
        EPS=float(eps),
        QK_INT8=scales is not None,
        V_INT8=v.dtype == torch.int8,
        STORE_STATE=state is not None,
        BLOCK_N=block(n, 32 if scales is not None else 16, 64),
        BLOCK_D=block(d, 16),
        BLOCK_DV=block_dv,
    )
    return out


def can_run(q: Tensor, k: Tensor, v: Tensor, eps: float) -> tuple[bool, str]:
    """Whether the fp32/fp16 kernel accepts these inputs, and why not."""
    return verdict(
        _shape_refusal(q, k, v)
        or float_qkv_refusal(q, k, v)
        or device_refusal((q, k, v), relu_linear_attention_kernel)
    )


def relu_linear_attention(
    q: Tensor, k: Tensor, v: Tensor, eps: float, out: Tensor | None = None
) -> Tensor:
    """relu(q)(relu(k)^T v) / (relu(q)(relu(k)^T 1) + eps); q, k [B,H,N,D], v [B,H,N,Dv]."""
    raise_if_refused("ReLULinearAttention", can_run(q, k, v, eps))
    out = torch.empty_like(v) if out is None else out
    return _launch(q, k, v, out, eps, None, None)


def can_run_int8(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    eps: float,
    q_scale: Tensor,
    k_scale: Tensor,
    v_scale: Tensor | None = None,
) -> tuple[bool, str]:
    """Whether the INT8 kernel accepts these inputs, and why not."""
    heads = q.shape[1] if q.dim() == 4 else 1
    return verdict(
        _shape_refusal(q, k, v)
        or dtype_refusal({"q": q, "k": k}, (torch.int8,))
        or dtype_refusal({"v": v}, (torch.int8, *FLOAT_DTYPES))
        or ("int8 v needs v_scale" if v.dtype == torch.int8 and v_scale is None else "")
        or next(
            (
                f"{name} must be float32 with 1 or H={heads} values on {q.device}"
                for name, s in (("q_scale", q_scale), ("k_scale", k_scale), ("v_scale", v_scale))
                if s is not None
                and (
                    s.dtype != torch.float32 or s.device != q.device or s.numel() not in (1, heads)
                )
            ),
            "",
        )
        or device_refusal((q, k, v), relu_linear_attention_kernel)
    )


def relu_linear_attention_int8(
    q: Tensor,
    k: Tensor,
    v: Tensor,
    eps: float,
    q_scale: Tensor,
    k_scale: Tensor,
    v_scale: Tensor | None = None,
    out: Tensor | None = None,
    state: Tensor | None = None,
) -> Tensor:
    """INT8 ReLULinearAttention: int8 q, k (per-head scales [H]); v int8 (v_scale) or float.

    relu(k)^T v runs int8 -> int32 (`state`, [B, H, D, Dv] int32, receives it when v is int8);
    the dequantized state, normaliser and division are fp32. Output: float16 for int8 v, else
    v's dtype.
    """
    raise_if_refused(
        "ReLULinearAttention INT8", can_run_int8(q, k, v, eps, q_scale, k_scale, v_scale)
    )
    out = int8_output(v, v.shape) if out is None else out
    v_scale = v_scale if v_scale is not None else q_scale
    scales = tuple(per_head(s, q.shape[1]) for s in (q_scale, k_scale, v_scale))
    return _launch(q, k, v, out, eps, scales, state if v.dtype == torch.int8 else None)
